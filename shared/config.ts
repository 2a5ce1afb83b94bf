/**
 * Configuration from the environment, read in one place. The same code targets AWS,
 * LocalStack or the embedded local stack: only these values differ.
 *
 * Endpoints follow the AWS SDK's own variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB,
 * AWS_ENDPOINT_URL_DYNAMODB_STREAMS, AWS_ENDPOINT_URL_SQS), which the SDK v3 reads itself.
 */
import { createHash } from 'node:crypto';

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
  /** The cluster's Service range (kube-apiserver's --service-cluster-ip-range), IPv4. @default 10.96.0.0/12 */
  readonly serviceCidr?: string;
  /** NodePorts (kube-apiserver's --service-node-port-range), `first-last`. @default 30000-32767 */
  readonly nodePortRange?: string;
  /**
   * Where pods reach the API (the `kubernetes` Service's endpoint, kube-apiserver's
   * --advertise-address and --secure-port). The local stack sets both (docker0's address and a
   * port of its own: infra/local/pod-facing.ts). @default 172.17.0.1:6443
   */
  readonly apiPodAddress?: string;
  readonly apiPodPort?: number;
  /**
   * The deployment-wide pool every Node's spec.podCIDR (a /24) comes from, whichever cluster it
   * belongs to (shared/store/pod-cidrs.ts). @default 10.128.0.0/12
   */
  readonly podCidrPool?: string;
  /**
   * The host-local range LoadBalancer Services' addresses come from, one pool for every cluster of
   * the deployment (shared/services/load-balancer.ts). @default 127.240.0.0/12
   */
  readonly loadBalancerCidr?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    objectsTable: env.STRATUS_OBJECTS_TABLE ?? 'stratus-objects',
    changesTable: env.STRATUS_CHANGES_TABLE ?? 'stratus-changes',
    queuePrefix: env.STRATUS_QUEUE_PREFIX ?? 'stratus',
    changeLogTtlSeconds: Number(env.STRATUS_CHANGE_LOG_TTL_SECONDS ?? 3600),
    logGapTimeoutMs: Number(env.STRATUS_LOG_GAP_TIMEOUT_MS ?? 1_000),
    serviceCidr: env.STRATUS_SERVICE_CIDR ?? '10.96.0.0/12',
    nodePortRange: env.STRATUS_NODE_PORT_RANGE ?? '30000-32767',
    apiPodAddress: env.STRATUS_API_POD_ADDRESS ?? '172.17.0.1',
    apiPodPort: Number(env.STRATUS_API_POD_PORT ?? 6443),
    ...(env.STRATUS_POD_CIDR_POOL ? { podCidrPool: env.STRATUS_POD_CIDR_POOL } : {}),
    ...(env.STRATUS_LOADBALANCER_CIDR ? { loadBalancerCidr: env.STRATUS_LOADBALANCER_CIDR } : {}),
  };
}

/**
 * The start every queue name of cluster `tenant` has: `${prefix}-${tag}-`, where `tag` is the first
 * 16 hex digits (64 bits) of SHA-256 over prefix and tenant joined by NUL. It has a fixed width, so
 * no other cluster's names start with it (a readable `${prefix}-a-*` would also match cluster
 * `a-b`'s): on AWS a node fleet's role may touch `${thisPrefix}*` only, its own cluster's queues
 * (infra/constructs/node-queues.ts nodeAgentPolicyOf).
 */
export function nodeQueueClusterPrefix(prefix: string, tenant: string): string {
  const head = prefix.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  const tag = createHash('sha256').update(`${prefix}\0${tenant}`).digest('hex').slice(0, 16);
  return `${head}-${tag}-`;
}

/**
 * The SQS queue of node `nodeName` of cluster `tenant`:
 *
 *   `${nodeQueueClusterPrefix(prefix, tenant)}${readable}-${hash}`
 *
 * where `hash` is the first 16 hex digits (64 bits) of SHA-256 over prefix, tenant and node name
 * joined by NUL (a byte neither name can hold), and `readable` is `${tenant}-${node}` with
 * characters SQS refuses replaced by `_`, cut to what fits. The hash alone tells the pairs apart:
 * (`a-b`, `c`) and (`a`, `b-c`) read alike but hash differently, and a truncated readable part
 * never merges two pairs. At most 76 characters (SQS allows 80), so the DLQ can add `-dlq`; the
 * DLQ name never equals a queue name (a queue name ends in hex digits, `-dlq` has `l` and `q`).
 * Every name starts with `${prefix}-`, which IAM scopes the control plane's senders to, and with
 * its cluster's prefix, which IAM scopes that cluster's node agents to on AWS.
 */
export function nodeQueueName(prefix: string, tenant: string, nodeName: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
  const hash = createHash('sha256').update(`${prefix}\0${tenant}\0${nodeName}`).digest('hex').slice(0, 16);
  const head = nodeQueueClusterPrefix(prefix, tenant);
  const room = QUEUE_NAME_MAX - head.length - hash.length - 1;
  const readable = clean(`${tenant}-${nodeName}`).slice(0, Math.max(0, room));
  return readable ? `${head}${readable}-${hash}` : `${head}${hash}`;
}

/** The dead-letter queue of nodeQueueName(...): the same name plus `-dlq`. */
export function nodeDeadLetterQueueName(prefix: string, tenant: string, nodeName: string): string {
  return `${nodeQueueName(prefix, tenant, nodeName)}-dlq`;
}

/**
 * The controllers' tick queue (delayed wake-ups of their timers; functions/controllers/
 * coordination.ts): `${prefix}_controller-ticks`. The `_` keeps it outside `${prefix}-*`, the
 * only queues node agents may touch (a node queue name always starts with `${prefix}-`).
 */
export function controllerTicksQueueName(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}_controller-ticks`;
}

/** Longest node queue name: SQS's 80 less the DLQ's `-dlq`. */
const QUEUE_NAME_MAX = 76;
