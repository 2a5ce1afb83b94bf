/**
 * List prices the cost meter multiplies its counts by (us-east-1, on-demand; docs/cost.md "Prices
 * used" gives each source and the date it was checked). One table, read by the meter's endpoint
 * and the dashboard's Cost view (through the endpoint's answer), so the figures never disagree.
 */
export const PRICES = {
  /** DynamoDB on-demand, per write request unit. */
  writeUnit: 0.625 / 1e6,
  /** DynamoDB on-demand, per read request unit. */
  readUnit: 0.125 / 1e6,
  /** Lambda, per request (invocation). */
  invocation: 0.2 / 1e6,
  /** Lambda duration, arm64, per GB-second. */
  gbSecond: 0.0000133334,
  /** SQS standard queue, per request (each 64 KB of payload is one request). */
  sqsRequest: 0.4 / 1e6,
} as const;

/** What the meter counts for one scope (a cluster, or a workload of it). */
export interface CostCounts {
  readUnits: number;
  writeUnits: number;
  invocations: number;
  gbSeconds: number;
  sqsRequests: number;
}

export const COUNT_FIELDS = ['readUnits', 'writeUnits', 'invocations', 'gbSeconds', 'sqsRequests'] as const satisfies readonly (keyof CostCounts)[];

export const zeroCounts = (): CostCounts => ({ readUnits: 0, writeUnits: 0, invocations: 0, gbSeconds: 0, sqsRequests: 0 });

/** Adds b into a (in place) and returns a. */
export function addCounts(a: CostCounts, b: Partial<CostCounts>): CostCounts {
  for (const f of COUNT_FIELDS) a[f] += b[f] ?? 0;
  return a;
}

export const isZero = (c: CostCounts): boolean => COUNT_FIELDS.every((f) => c[f] === 0);

/** The dollars of each part and their sum. */
export interface CostUsd {
  dynamodb: number;
  lambda: number;
  sqs: number;
  total: number;
}

export function priceOf(c: CostCounts): CostUsd {
  const dynamodb = c.readUnits * PRICES.readUnit + c.writeUnits * PRICES.writeUnit;
  const lambda = c.invocations * PRICES.invocation + c.gbSeconds * PRICES.gbSecond;
  const sqs = c.sqsRequests * PRICES.sqsRequest;
  return { dynamodb, lambda, sqs, total: dynamodb + lambda + sqs };
}

/** GB-seconds of one invocation: its duration times the function's configured memory (Lambda bills 1 ms steps). */
export const gbSecondsOf = (durationMs: number, memoryMiB: number): number => (Math.max(1, Math.ceil(durationMs)) / 1000) * (memoryMiB / 1024);
