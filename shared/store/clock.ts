/**
 * Where the store reads the time (ms since the epoch): log entries' commit seconds, gap timeouts,
 * writers' deadlines, creationTimestamp. Injected (ObjectStore's options) so tests can move time
 * on instead of waiting.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
