export { ApiFunction, type ApiFunctionProps } from './api-function';
export { createHandlerFunction, repoRoot, type CodeFor, type HandlerFunctionProps } from './handler-function';
export { NodeQueues, type NodeQueuesProps } from './node-queues';
export { ScheduledFunction, type ScheduledFunctionProps } from './scheduled-function';
export { StateTables } from './state-tables';
export { StreamConsumer, type StreamConsumerProps } from './stream-consumer';
