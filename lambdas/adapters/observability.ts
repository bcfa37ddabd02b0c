import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricSink } from '../domain/ports.js';

type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

/** Extra observers the local stack plugs in (its /metrics registry, its log viewer); unused on AWS. */
export interface ObservabilityHooks {
  /** Receives every count and timing the CloudWatch sink receives. */
  tee?: MetricSink;
  /** Builds the root logger instead of `new Logger(options)`. */
  newLogger?: (options: { serviceName: string; logLevel: LogLevel }) => Logger;
}

export interface Observability {
  logger: Logger;
  metrics: Metrics;
  sink: MetricSink;
}

/** Structured JSON logs and CloudWatch EMF metrics through Powertools for AWS Lambda. */
export function createObservability(options: {
  serviceName: string;
  namespace: string;
  logLevel: LogLevel;
  hooks?: ObservabilityHooks;
}): Observability {
  const loggerOptions = { serviceName: options.serviceName, logLevel: options.logLevel };
  const logger = options.hooks?.newLogger?.(loggerOptions) ?? new Logger(loggerOptions);
  const metrics = new Metrics({ serviceName: options.serviceName, namespace: options.namespace });
  const tee = options.hooks?.tee;
  const sink: MetricSink = {
    count: (name, value = 1, dimensions) => {
      metrics.addMetric(name, MetricUnit.Count, value);
      tee?.count(name, value, dimensions);
    },
    milliseconds: (name, value) => {
      metrics.addMetric(name, MetricUnit.Milliseconds, value);
      tee?.milliseconds(name, value);
    },
  };
  return { logger, metrics, sink };
}
