/**
 * The agent's logs: JSON lines by Powertools for AWS Lambda (shared/log.ts, as the functions
 * log), all on stderr, each with level, message, timestamp, service "node-agent", and the node
 * and tenant. The level is --log-level, else POWERTOOLS_LOG_LEVEL (or LOG_LEVEL), else INFO.
 *
 * A unit of work (a placement message, a kubelet request, a pod sync) runs inside
 * `withLogKeys({...})`: every line logged within it, however deep (the runtime, the event
 * recorder), carries those keys too (placementMessageId, requestId, syncId), so its lines can be
 * found together. Code takes the narrow `Logger` below, so tests pass `silentLogger` or a fake.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { StreamLogger, type LineSink } from '../shared/log';

export type LogFields = Readonly<Record<string, unknown>>;

/** Where the agent says what it does. Implementations must not throw. */
export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** The keys of the units of work the current async call chain is in. */
const workKeys = new AsyncLocalStorage<LogFields>();

/** Runs `fn` as a unit of work: lines logged within it (sync or async) carry `keys` too; inner keys win. */
export function withLogKeys<T>(keys: LogFields, fn: () => T): T {
  return workKeys.run({ ...workKeys.getStore(), ...keys }, fn);
}

/**
 * The keys of the current unit of work, fixed into a logger: for callbacks that run outside its
 * async call chain (a WebSocket's events are the socket's, made before the work began).
 */
export function withCurrentLogKeys(log: Logger): Logger {
  const keys = workKeys.getStore();
  if (!keys) return log;
  return {
    info: (msg, fields) => log.info(msg, { ...keys, ...fields }),
    warn: (msg, fields) => log.warn(msg, { ...keys, ...fields }),
    error: (msg, fields) => log.error(msg, { ...keys, ...fields }),
  };
}

export interface AgentLoggerOptions {
  readonly node: string;
  readonly tenant: string;
  /** @default POWERTOOLS_LOG_LEVEL, LOG_LEVEL, else INFO */
  readonly logLevel?: LogLevel;
  /** @default process.stderr */
  readonly sink?: LineSink;
}

/** The agent's logger: Powertools JSON lines with service node-agent and the node and tenant. */
export function agentLogger(o: AgentLoggerOptions): Logger {
  const logger = new StreamLogger(
    { serviceName: 'node-agent', persistentKeys: { node: o.node, tenant: o.tenant }, ...(o.logLevel ? { logLevel: o.logLevel } : {}) },
    o.sink ?? process.stderr,
  );
  // The work's keys first: a call site's own field of the same name is the more precise.
  const fieldsOf = (fields?: LogFields) => ({ ...workKeys.getStore(), ...fields });
  return {
    info: (msg, fields) => logger.info(msg, fieldsOf(fields)),
    warn: (msg, fields) => logger.warn(msg, fieldsOf(fields)),
    error: (msg, fields) => logger.error(msg, fieldsOf(fields)),
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
