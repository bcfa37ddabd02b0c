import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { Archive, EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import type { IBindableFunction } from './function.js';

export interface RoomcastEventBusProps {
  /** `create` makes the bus `name`; an event bus ARN uses that bus; `none` turns events to backends off. */
  readonly bus: 'create' | 'none' | string;
  /** Name of the bus `create` makes (`roomcast-{stage}`). */
  readonly name: string;
  /** `source` of every event (`roomcast.{stage}`). */
  readonly source: string;
  /**
   * Days an archive keeps the events, so they can be replayed; 0 makes no archive.
   * @default 0
   */
  readonly archiveDays?: number;
  /** What happens to a bus this construct created when it leaves the stack. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The EventBridge bus events to backends go to (CONTRACT section 7). `bind`
 * gives one function EVENT_BUS_NAME, EVENT_SOURCE and `events:PutEvents` on
 * this bus only; with `none` there is no bus and binding does nothing.
 */
export class RoomcastEventBus extends Construct {
  readonly bus: IEventBus | undefined;
  readonly archive: Archive | undefined;
  private readonly source: string;

  constructor(scope: Construct, id: string, props: RoomcastEventBusProps) {
    super(scope, id);
    this.source = props.source;
    if (props.bus === 'none') return;
    if (props.bus === 'create') {
      const bus = new EventBus(this, 'Bus', {
        eventBusName: props.name,
        description: `roomcast events to backends (source ${props.source})`,
      });
      bus.applyRemovalPolicy(props.removalPolicy);
      this.bus = bus;
    } else {
      this.bus = EventBus.fromEventBusArn(this, 'Bus', props.bus);
    }
    if ((props.archiveDays ?? 0) > 0) {
      this.archive = new Archive(this, 'Archive', {
        sourceEventBus: this.bus,
        description: `roomcast events of ${props.source}, kept to be replayed`,
        eventPattern: { source: [props.source] },
        retention: Duration.days(props.archiveDays ?? 0),
      });
      // The archive holds the events; a retained bus without it would keep nothing (and an
      // archive's rule on the bus would stop the bus being deleted without it).
      this.archive.applyRemovalPolicy(props.removalPolicy);
    }
  }

  /** Lets one function publish: its environment names the bus and source, its role may PutEvents on the bus. */
  bind(fn: IBindableFunction): void {
    if (!this.bus) return;
    fn.addEnvironment('EVENT_BUS_NAME', this.bus.eventBusArn);
    fn.addEnvironment('EVENT_SOURCE', this.source);
    this.bus.grantPutEventsTo(fn);
  }
}
