/**
 * kube-apiserver's 429 for a request its flow control refused, as Stratus answers it for every
 * refusal of a budget (cluster and user rate limits, per-source budgets, the kubelet relay's
 * connect): the whole Status, written out here once so each test compares against the same words.
 */
export const TOO_MANY_REQUESTS_STATUS = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'Too many requests, please try again later.',
  reason: 'TooManyRequests',
  details: { retryAfterSeconds: 1 },
  code: 429,
} as const;
