export { ApiFunction, type ApiFunctionProps } from './api-function';
export { createHandlerFunction, repoRoot, type CodeFor, type HandlerFunctionProps } from './handler-function';
export { NodeQueues, type NodeQueuesProps } from './node-queues';
export { ScheduledFunction, type ScheduledFunctionProps } from './scheduled-function';
export { StateTables } from './state-tables';
export { StreamConsumer, type StreamConsumerProps } from './stream-consumer';
export { Monitoring, type MonitoredFunction, type MonitoringProps } from './monitoring';
export { applyNagChecks, applyNagSuppressions, nagSuppressions } from './nag';
export { NodeFleet, type NodeFleetProps } from './node-fleet';
