import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricSink } from '../domain/ports.js';

export interface Observability {
  logger: Logger;
  metrics: Metrics;
  sink: MetricSink;
}

/** Structured JSON logs and CloudWatch EMF metrics through Powertools for AWS Lambda. */
export function createObservability(options: {
  serviceName: string;
  namespace: string;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
}): Observability {
  const logger = new Logger({ serviceName: options.serviceName, logLevel: options.logLevel });
  const metrics = new Metrics({ serviceName: options.serviceName, namespace: options.namespace });
  const sink: MetricSink = {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
    milliseconds: (name, value) => metrics.addMetric(name, MetricUnit.Milliseconds, value),
  };
  return { logger, metrics, sink };
}
