/**
 * The embedded local stack: DynamoDB Local + an SQS emulator + the local Lambda runtime serving
 * the handlers of infra/wiring.ts over HTTPS, with a private CA, the `default` tenant's tokens
 * and a kubeconfig. What AWS is to the deployed system, this is to a laptop or a CI machine.
 *
 * State files in stateDir let other commands find a running stack:
 *   kubeconfig  admin kubeconfig of the default tenant (kubectl verifies the server with the CA)
 *   ca.crt      the CA that signed the API's serving certificate
 *   stack.json  {apiUrl, tenant, adminToken, joinToken, env, pid, ...}; removed by stop()
 *   operator-token  the operator credential (`stratus cluster ...`, /stratus/v1/clusters), 0600
 *
 * With `persist` (what `npm start` uses), the stack also keeps, and reuses at the next start:
 *   dynamodb/          DynamoDB Local's data directory (every cluster, object, token, change log)
 *   ca.key, server.crt, server.key   the CA's key and the serving certificate (remade from the
 *                      same CA when it nears expiry), so kubeconfigs keep verifying the server
 *   state.json         the API port, the default cluster's tokens
 *   checkpoints.json   each stream consumer's checkpoint per shard
 * Files holding keys or tokens are mode 0600 and the directory 0700. SQS queues live in memory:
 * each node agent creates its queue again when it starts. Without `persist` (tests, benchmarks)
 * everything is fresh and DynamoDB Local runs in memory.
 */
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { generate } from 'selfsigned';
import { createToken, lookupToken, putToken } from '../../shared/auth/tokens';
import { createJoinToken } from '../../shared/auth/join-tokens';

/** Join tokens the local stack mints for its own agents and tests' agents live a day. */
const LOCAL_JOIN_TOKEN_TTL_SECONDS = 24 * 3600;
import { isOperator, listClusters, OPERATOR_IDENTITY, registerCluster } from '../../shared/clusters';
import { claimLocalPodCidrPool, dockerPoolsInUse } from './pod-cidr-pool';
import { listenPodFacing, podFacingAddress, type PodFacingListener } from './pod-facing';
import { ensureKubernetesService } from '../../shared/kubernetes-service';
import { firstAddress, parseCidr } from '../../shared/services/ip';
import { loadConfig, type Config } from '../../shared/config';
import { SOURCE_LIMIT_ENV } from '../../shared/rate-limit';
import { LONG_RUNNING_LIMIT_ENV } from '../../shared/long-running';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { ensureSystemNamespaces } from '../../shared/system-namespaces';
import { ensureDefaultIngressClass } from '../../shared/ingress/default-class';
import { ensureBootstrapPolicy } from '../../shared/auth/bootstrap-policy';
import { wiring } from '../wiring';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDBLocal, type DynamoDBLocal } from './dynamodb';
import { writeKubeconfigFile } from './kubeconfig';
import { startLocalRuntime, type LocalRuntime } from './runtime';
import { startKubeletRelay } from './kubelet-relay';

export { writeKubeconfigFile };
import { startSqs, type LocalSqs } from './sqs';
import { createTables } from './tables';

export interface LocalStack {
  /** https://127.0.0.1:PORT (tenants live under /clusters/{tenant}). */
  readonly apiUrl: string;
  /** PEM of the CA that signed the API's serving certificate. */
  readonly caCert: string;
  /** Admin token of the `default` tenant (system:masters). */
  readonly adminToken: string;
  /** A bootstrap token of the default cluster (24 h) that node agents join with (node-agent/identity.ts). */
  readonly joinToken: string;
  /** The operator credential (cluster lifecycle at /stratus/v1/clusters; reaches no cluster). */
  readonly operatorToken: string;
  readonly tenant: 'default';
  /** `${stateDir}/kubeconfig`: admin kubeconfig of the default tenant. */
  readonly kubeconfigPath: string;
  /** Everything a child process (node agent, tests) needs to reach the stack's AWS services. */
  readonly env: Record<string, string>;
  /** Creates tokens for another tenant (a virtual cluster needs nothing else to exist). */
  createTenant(tenant: string): Promise<{ adminToken: string; joinToken: string }>;
  /** Writes a kubeconfig for `tenant` authenticating with `token`. */
  writeKubeconfig(path: string, opts: { tenant: string; token: string; user?: string }): Promise<void>;
  /** Stops the runtime, the SQS emulator and DynamoDB Local (reverse order); removes stack.json. */
  stop(): Promise<void>;
}

/** What stack.json holds, for `stratus kubeconfig`, tests and other commands. */
export interface StackFile {
  apiUrl: string;
  tenant: 'default';
  adminToken: string;
  joinToken: string;
  env: Record<string, string>;
  /** The process running the stack (handlers, SQS emulator, HTTPS server). */
  pid: number;
  /** DynamoDB Local's Java process. */
  dynamodbPid: number;
  caCertPath: string;
  kubeconfigPath: string;
  /** File (0600) holding the operator token, for `stratus cluster ...`. */
  operatorTokenPath: string;
}

const TENANT_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const YEAR_MS = 365 * 24 * 3600 * 1000;

interface Pem {
  cert: string;
  key: string;
}

/** A fresh private CA (EC P-256, SHA-256, 10 years). */
async function makeCa(): Promise<Pem> {
  // sha256 (not the library's sha1 default): Go clients such as kubectl reject SHA-1 signatures.
  const ca = await generate([{ name: 'commonName', value: 'Stratus local CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 10 * YEAR_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/**
 * The names a pod-facing API answers to, as kube-apiserver's serving certificate carries them:
 * the `kubernetes` Service's ClusterIP and DNS names, beside localhost and 127.0.0.1.
 */
export const KUBERNETES_SERVICE_DNS_NAMES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'] as const;

/** The subject alternative names of the serving certificate: DNS names and IP addresses. */
export function servingNames(podAddress?: string, serviceIp = '10.96.0.1'): { dns: string[]; ips: string[] } {
  return { dns: ['localhost', ...KUBERNETES_SERVICE_DNS_NAMES], ips: ['127.0.0.1', serviceIp, ...(podAddress ? [podAddress] : [])] };
}

/** Whether `cert` (PEM) names every one of `names` (X509Certificate.subjectAltName: "DNS:a, IP Address:b"). */
export function coversNames(cert: string, names: { dns: string[]; ips: string[] }): boolean {
  const have = new Set((new X509Certificate(cert).subjectAltName ?? '').split(/,\s*/));
  return names.dns.every((d) => have.has(`DNS:${d}`)) && names.ips.every((ip) => have.has(`IP Address:${ip}`));
}

/** A serving certificate for `names` (default: 127.0.0.1, localhost, the `kubernetes` Service's) signed by `ca` (one year). */
async function makeServerCert(ca: Pem, names = servingNames()): Promise<Pem> {
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + YEAR_MS),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.dns.map((value) => ({ type: 2 as const, value })), ...names.ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  return { cert: server.cert, key: server.private };
}

/**
 * A fresh private CA and a serving certificate for `names` signed by it (EC P-256, SHA-256), all
 * PEM. The CA goes into kubeconfigs and pods' ca.crt; key and cert into the HTTPS server.
 */
export async function makeCertificates(names = servingNames()): Promise<{ caCert: string; caKey: string; key: string; cert: string }> {
  const ca = await makeCa();
  const server = await makeServerCert(ca, names);
  return { caCert: ca.cert, caKey: ca.key, key: server.key, cert: server.cert };
}

/** Certificates we renew this long before they expire. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

async function readPem(dir: string, name: string): Promise<Pem | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(join(dir, `${name}.crt`), 'utf8'), readFile(join(dir, `${name}.key`), 'utf8')]);
    return { cert, key };
  } catch {
    return undefined;
  }
}

/** Whether `pem` is usable until well after now (and, given `ca`, was signed by it). */
function stillGood(pem: Pem, ca?: Pem): boolean {
  try {
    const x = new X509Certificate(pem.cert);
    createPrivateKey(pem.key);
    if (Date.parse(x.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    return ca ? x.verify(new X509Certificate(ca.cert).publicKey) : true;
  } catch {
    return false;
  }
}

async function writePem(dir: string, name: string, pem: Pem): Promise<void> {
  await writeFile(join(dir, `${name}.crt`), pem.cert);
  await writeFile(join(dir, `${name}.key`), pem.key, { mode: 0o600 });
  await chmod(join(dir, `${name}.key`), 0o600);
}

/**
 * The CA and serving certificate kept in `dir` (ca.crt/ca.key, server.crt/server.key), made
 * when missing or unusable: the CA is kept as long as it is valid, so kubeconfigs written before
 * a restart still verify the server; the serving certificate is remade from it when it nears
 * its end or lacks one of `names` (a state dir from before the pod-facing address, or a new one).
 */
export async function persistentCertificates(dir: string, names = servingNames()): Promise<{ caCert: string; caKey: string; key: string; cert: string }> {
  let ca = await readPem(dir, 'ca');
  if (!ca || !stillGood(ca)) {
    ca = await makeCa();
    await writePem(dir, 'ca', ca);
  }
  let server = await readPem(dir, 'server');
  if (!server || !stillGood(server, ca) || !coversNames(server.cert, names)) {
    server = await makeServerCert(ca, names);
    await writePem(dir, 'server', server);
  }
  return { caCert: ca.cert, caKey: ca.key, key: server.key, cert: server.cert };
}

/** What a persistent stack keeps in state.json (mode 0600) between starts. */
export interface PersistedState {
  apiPort?: number;
  /** The API's pod-facing port (the `kubernetes` Endpoints name it). */
  apiPodPort?: number;
  adminToken?: string;
  operatorToken?: string;
}

async function readState(path: string): Promise<PersistedState> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (!parsed || typeof parsed !== 'object') return {};
    const o = parsed as Record<string, unknown>;
    const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
    return {
      apiPort: typeof o.apiPort === 'number' && Number.isInteger(o.apiPort) ? o.apiPort : undefined,
      apiPodPort: typeof o.apiPodPort === 'number' && Number.isInteger(o.apiPodPort) ? o.apiPodPort : undefined,
      adminToken: str('adminToken'),
      operatorToken: str('operatorToken'),
    };
  } catch {
    return {};
  }
}

async function writeSecretFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

/**
 * Creates a tenant's admin token (system:masters), a join token its node agents join with (each
 * then gets a credential of its own: no node secret is shared), and its four system namespaces:
 * a virtual cluster needs nothing else to exist. Used by the local stack and by benchmarks that
 * call the handlers without it (bench/api-cost.ts).
 */
export async function createTenantTokens(
  doc: DynamoDBDocumentClient,
  config: Config,
  tenant: string,
): Promise<{ adminToken: string; joinToken: string }> {
  if (!TENANT_NAME.test(tenant)) throw new Error(`invalid tenant name ${JSON.stringify(tenant)}: use a DNS label`);
  const adminToken = await createToken(doc, config, { tenant, user: 'admin', groups: ['system:masters', 'system:authenticated'] });
  // A cluster has its system namespaces from its first second, as Kubernetes' apiserver makes them.
  const store = new ObjectStore(doc, config);
  // ...and its default RBAC roles and bindings (cluster-admin, admin, edit, view, system:*).
  await Promise.all([ensureSystemNamespaces(store, tenant), ensureBootstrapPolicy(store, tenant), registerCluster({ doc, config }, tenant), ensureDefaultIngressClass(store, tenant)]);
  // What its node agents join with (each then gets its own identity: node-agent/identity.ts).
  const { token: joinToken } = await createJoinToken(doc, config, tenant, LOCAL_JOIN_TOKEN_TTL_SECONDS);
  return { adminToken, joinToken };
}

/** Points the `kubernetes` Endpoints of every cluster at config's pod-facing address and port. */
async function reconcileKubernetesEndpoints(doc: DynamoDBDocumentClient, config: Config, log: (s: string) => void): Promise<void> {
  const store = new ObjectStore(doc, config);
  const clusters = await listClusters({ doc, config });
  await Promise.all(
    clusters.map((c) =>
      ensureKubernetesService(store, c.name).catch((err: unknown) => log(`cluster ${c.name}: kubernetes Service endpoints: ${err instanceof Error ? err.message : String(err)}`)),
    ),
  );
}

/** The default cluster's tokens saved by an earlier run, if the database still knows them. */
async function reusableTokens(
  doc: DynamoDBDocumentClient,
  config: Config,
  saved: PersistedState,
): Promise<{ adminToken: string } | undefined> {
  const { adminToken } = saved;
  if (!adminToken) return undefined;
  const admin = await lookupToken(doc, config, adminToken);
  return admin?.tenant === 'default' ? { adminToken } : undefined;
}

/**
 * Starts the whole local stack and resolves once the API answers on its HTTPS port.
 * Sets process.env to the stack's env (the stream, schedule and queue handlers run in this process; the API in its instances, LocalRuntimeOptions.httpInstances). On failure, stops
 * whatever it had started and rejects. Reports progress through opts.log.
 */
export async function startLocalStack(opts: {
  stateDir: string;
  httpPort?: number;
  log?: (s: string) => void;
  /** Keep the database, certificates, API port, tokens and checkpoints in stateDir, and reuse them. */
  persist?: boolean;
  /** Instances serving the API, each its own process (LocalRuntimeOptions.httpInstances; 0 = in this process). */
  apiInstances?: number;
}): Promise<LocalStack> {
  const log = opts.log ?? (() => {});
  const stateDir = resolve(opts.stateDir);
  const persist = opts.persist ?? false;
  const started = Date.now();
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  const statePath = join(stateDir, 'state.json');
  const saved: PersistedState = persist ? await readState(statePath) : {};

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (err) {
        log(`stop: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };

  try {
    // The one address pods reach the API at (infra/local/pod-facing.ts); its port is this stack's own.
    const podAddress = podFacingAddress();
    let podListener: PodFacingListener | undefined;
    if (podAddress) {
      podListener = await listenPodFacing(podAddress, saved.apiPodPort, (from) =>
        log(`pod-facing port ${from} of the last run is taken: the kubernetes Service's endpoints move`),
      );
      const l = podListener;
      cleanups.push(() => l.close());
      log(`pods reach the API at ${l.address}:${l.port}`);
    } else log('no pod-facing address (no docker0 and no STRATUS_API_POD_ADDRESS): pods cannot reach the API');
    const baseConfig = loadConfig(process.env);
    const names = servingNames(podAddress, firstAddress(parseCidr(baseConfig.serviceCidr ?? '10.96.0.0/12')));
    log('starting DynamoDB Local and the SQS emulator');
    const certsP = persist ? persistentCertificates(stateDir, names) : makeCertificates(names);
    const dbPath = persist ? join(stateDir, 'dynamodb') : undefined;
    const [ddbResult, sqsResult] = await Promise.allSettled([startDynamoDBLocal({ log, dbPath }), startSqs()]);
    if (ddbResult.status === 'fulfilled') cleanups.push(() => ddbResult.value.stop());
    if (sqsResult.status === 'fulfilled') cleanups.push(() => sqsResult.value.stop());
    if (ddbResult.status === 'rejected') throw ddbResult.reason;
    if (sqsResult.status === 'rejected') throw sqsResult.reason;
    const ddb: DynamoDBLocal = ddbResult.value;
    const sqs: LocalSqs = sqsResult.value;
    log(`SQS emulator ready on ${sqs.endpoint}`);

    const config: Config = {
      ...baseConfig,
      region: LOCAL_REGION,
      ...(podListener ? { apiPodAddress: podListener.address, apiPodPort: podListener.port } : {}),
    };
    const caCertPath = join(stateDir, 'ca.crt');
    // A /16 of pod CIDRs no other local stack on this Docker host uses (infra/local/pod-cidr-pool.ts).
    let podCidrPool = process.env.STRATUS_POD_CIDR_POOL;
    if (!podCidrPool) {
      // The /16 this state directory's stack had (its Nodes' podCIDRs are in it), else a free one
      // that no stopped stack's pods are still on.
      const remembered = join(stateDir, 'pod-cidr-pool');
      const prefer = (await readFile(remembered, 'utf8').catch(() => '')).trim() || undefined;
      const claim = await claimLocalPodCidrPool(undefined, undefined, undefined, { ...(prefer ? { prefer } : {}), inUse: dockerPoolsInUse() });
      podCidrPool = claim.pool;
      cleanups.push(claim.release);
      await writeFile(remembered, `${podCidrPool}\n`);
      log(`pod CIDR pool ${podCidrPool}${prefer && prefer !== podCidrPool ? ` (${prefer}, this state's before, is another running stack's)` : ''}`);
    }
    const env: Record<string, string> = {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      // DynamoDB Local keeps one database per access key: every client must use these.
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: ddb.endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      STRATUS_OBJECTS_TABLE: config.objectsTable,
      STRATUS_CHANGES_TABLE: config.changesTable,
      STRATUS_QUEUE_PREFIX: config.queuePrefix,
      STRATUS_CHANGE_LOG_TTL_SECONDS: String(config.changeLogTtlSeconds),
      // Node lifecycle settings pass through when set (tests and demos use short values), and so
      // do the clusters' default rate limits, caps on open long-running requests and the
      // per-source budgets (shared/rate-limit.ts, shared/long-running.ts; the tests raise the
      // first two and exempt their own address from the last).
      ...Object.fromEntries(
        [
          'STRATUS_NODE_MONITOR_GRACE_SECONDS',
          'STRATUS_DEFAULT_TOLERATION_SECONDS',
          'STRATUS_DEFAULT_RATE_LIMIT',
          'STRATUS_DEFAULT_USER_RATE_LIMIT',
          ...Object.values(LONG_RUNNING_LIMIT_ENV),
          ...Object.values(SOURCE_LIMIT_ENV),
          'STRATUS_SOURCE_LIMIT_EXEMPT',
        ].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])),
      ),
      STRATUS_TENANT: 'default',
      STRATUS_POD_CIDR_POOL: podCidrPool,
      // Where the `kubernetes` Endpoints point and what node agents let their pods reach on the host.
      ...(podListener ? { STRATUS_API_POD_ADDRESS: podListener.address, STRATUS_API_POD_PORT: String(podListener.port) } : {}),
      STRATUS_CA_FILE: caCertPath,
      // The KEK wrapping each cluster's Secret data keys (shared/secrets/kek.ts): made on first use, 0600, kept.
      STRATUS_SECRETS_KEK_FILE: process.env.STRATUS_SECRETS_KEK_FILE ?? join(stateDir, 'secrets-kek.json'),
      // audit.k8s.io events of every API request the policy logs (shared/audit.ts; `stratus audit`).
      STRATUS_AUDIT_LOG: process.env.STRATUS_AUDIT_LOG ?? join(stateDir, 'audit.log'),
      // The functions' EMF metrics (shared/function-metrics.ts): one stdout document per
      // invocation, printed only when asked for.
      ...(process.env.STRATUS_PRINT_METRICS === '1' ? {} : { POWERTOOLS_METRICS_DISABLED: 'true' }),
      // Node children (agent, test workers) then trust the API's certificate out of the box.
      NODE_EXTRA_CA_CERTS: caCertPath,
    };
    // The handlers and shared/ clients in this process read endpoints and credentials from here.
    Object.assign(process.env, env);

    log('creating tables');
    await createTables(config, ddb.endpoint);

    const certs = await certsP;
    await writeFile(caCertPath, certs.caCert);

    const doc = createDocumentClient(config);
    cleanups.push(async () => doc.destroy());
    const createTenant = (tenant: string) => createTenantTokens(doc, config, tenant);
    const reused = await reusableTokens(doc, config, saved);
    if (reused) log('reusing the default cluster and its tokens');
    else log('creating the default tenant');
    const { adminToken } = reused ?? (await createTenant('default'));
    const joinToken = (await createJoinToken(doc, config, 'default', LOCAL_JOIN_TOKEN_TTL_SECONDS)).token;
    if (reused) await ensureSystemNamespaces(new ObjectStore(doc, config), 'default');
    // Every cluster's `kubernetes` Endpoints name this start's pod-facing address (as
    // kube-apiserver's endpoint reconciler does at start): the port may have moved.
    if (podListener) await reconcileKubernetesEndpoints(doc, config, log);
    const savedOperator = saved.operatorToken ? await lookupToken(doc, config, saved.operatorToken) : undefined;
    let operatorToken = savedOperator && isOperator(savedOperator) ? saved.operatorToken! : undefined;
    if (!operatorToken) {
      operatorToken = `st_${randomBytes(24).toString('base64url')}`;
      await putToken(doc, config, operatorToken, OPERATOR_IDENTITY);
    }
    const operatorTokenPath = join(stateDir, 'operator-token');
    await writeSecretFile(operatorTokenPath, `${operatorToken}\n`);

    // The kubelet relay emulator (the AWS design's API Gateway WebSocket API): nodes in relay mode
    // have no listening port, and the api function reaches them through it (docs/exec.md).
    const relay = await startKubeletRelay({ doc, config, tls: { key: certs.key, cert: certs.cert }, log });
    cleanups.push(() => relay.close());
    env.STRATUS_KUBELET_RELAY_URL = relay.url;
    env.STRATUS_KUBELET_RELAY_CA_FILE = caCertPath;
    Object.assign(process.env, { STRATUS_KUBELET_RELAY_URL: relay.url, STRATUS_KUBELET_RELAY_CA_FILE: caCertPath });
    log(`kubelet relay ${relay.url}`);

    log('starting the local Lambda runtime');
    const runtimeOptions = {
      wiring,
      env,
      tls: { key: certs.key, cert: certs.cert },
      log,
      checkpointFile: persist ? join(stateDir, 'checkpoints.json') : undefined,
      ...(podListener ? { podListener: podListener.server } : {}),
      ...(opts.apiInstances !== undefined ? { httpInstances: opts.apiInstances } : {}),
    };
    let runtime: LocalRuntime;
    try {
      // The port of the last run, so kubeconfigs written then still reach the API.
      runtime = await startLocalRuntime({ ...runtimeOptions, httpPort: opts.httpPort ?? saved.apiPort });
    } catch (err) {
      if (opts.httpPort !== undefined || saved.apiPort === undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      log(`port ${saved.apiPort} of the last run is taken: the API moves to another port; kubeconfigs written before must be fetched again`);
      runtime = await startLocalRuntime({ ...runtimeOptions, httpPort: 0 });
    }
    cleanups.push(() => runtime.stop());
    const apiUrl = runtime.url;
    if (!apiUrl) throw new Error('the wiring table has no HTTP function: there is no API to serve');
    env.STRATUS_API_URL = apiUrl;
    process.env.STRATUS_API_URL = apiUrl;

    const kubeconfigPath = join(stateDir, 'kubeconfig');
    const writeKubeconfig = (path: string, k: { tenant: string; token: string; user?: string }) =>
      writeKubeconfigFile(path, { apiUrl, caCert: certs.caCert, ...k });
    await writeKubeconfig(kubeconfigPath, { tenant: 'default', token: adminToken, user: 'stratus-local-admin' });

    const stackFile = join(stateDir, 'stack.json');
    const file: StackFile = {
      apiUrl,
      tenant: 'default',
      adminToken,
      joinToken,
      env,
      pid: process.pid,
      dynamodbPid: ddb.pid,
      caCertPath,
      kubeconfigPath,
      operatorTokenPath,
    };
    await writeSecretFile(stackFile, `${JSON.stringify(file, null, 2)}\n`);
    if (persist) {
      const state: PersistedState = { apiPort: runtime.port, ...(podListener ? { apiPodPort: podListener.port } : {}), adminToken, operatorToken };
      await writeSecretFile(statePath, `${JSON.stringify(state, null, 2)}\n`);
    }
    // Pushed last, so stop() removes it first: no one should find a stack that is going away.
    cleanups.push(() => rm(stackFile, { force: true }));
    log(`local stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${apiUrl}/clusters/default`);

    let stopped: Promise<void> | undefined;
    return {
      apiUrl,
      caCert: certs.caCert,
      adminToken,
      joinToken,
      operatorToken,
      tenant: 'default',
      kubeconfigPath,
      env: { ...env },
      createTenant,
      writeKubeconfig,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
