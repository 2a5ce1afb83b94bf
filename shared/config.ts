/**
 * Configuration from the environment, read in one place. The same code targets AWS,
 * LocalStack or the embedded local stack: only these values differ.
 *
 * Endpoints follow the AWS SDK's own variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB,
 * AWS_ENDPOINT_URL_DYNAMODB_STREAMS, AWS_ENDPOINT_URL_SQS), which the SDK v3 reads itself.
 */
export interface Config {
  readonly region: string;
  readonly objectsTable: string;
  readonly changesTable: string;
  /** Prefix of every node queue name; IAM is scoped to it on AWS. */
  readonly queuePrefix: string;
  /** How long the change log keeps entries (watch history); older resourceVersions get 410. */
  readonly changeLogTtlSeconds: number;
  /**
   * How long readers wait at a gap in the change log (versions reserved but not committed)
   * after the entry that follows it before they void it as a dead or late writer's
   * (shared/store/changelog.ts; a late writer then commits under new versions). @default 1000
   */
  readonly logGapTimeoutMs?: number;
  /**
   * The deployment-wide pool every Node's spec.podCIDR (a /24) comes from, whichever cluster it
   * belongs to (shared/store/pod-cidrs.ts). @default 10.128.0.0/12
   */
  readonly podCidrPool?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    objectsTable: env.STRATUS_OBJECTS_TABLE ?? 'stratus-objects',
    changesTable: env.STRATUS_CHANGES_TABLE ?? 'stratus-changes',
    queuePrefix: env.STRATUS_QUEUE_PREFIX ?? 'stratus',
    changeLogTtlSeconds: Number(env.STRATUS_CHANGE_LOG_TTL_SECONDS ?? 3600),
    logGapTimeoutMs: Number(env.STRATUS_LOG_GAP_TIMEOUT_MS ?? 1_000),
    ...(env.STRATUS_POD_CIDR_POOL ? { podCidrPool: env.STRATUS_POD_CIDR_POOL } : {}),
  };
}

/** SQS queue names allow [A-Za-z0-9_-], at most 80 characters (75 + ".fifo"). */
export function nodeQueueName(prefix: string, tenant: string, nodeName: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
  return `${clean(prefix)}-${clean(tenant)}-${clean(nodeName)}`.slice(0, 76);
}

export function nodeDeadLetterQueueName(prefix: string, tenant: string, nodeName: string): string {
  return `${nodeQueueName(prefix, tenant, nodeName).slice(0, 72)}-dlq`;
}
