/**
 * The embedded local stack: DynamoDB Local + an SQS emulator + the local Lambda runtime serving
 * the handlers of infra/wiring.ts over HTTPS, with a private CA, the `default` tenant's tokens
 * and a kubeconfig. What AWS is to the deployed system, this is to a laptop or a CI machine.
 *
 * State files in stateDir let other commands find a running stack:
 *   kubeconfig  admin kubeconfig of the default tenant (kubectl verifies the server with the CA)
 *   ca.crt      the CA that signed the API's serving certificate
 *   stack.json  {apiUrl, tenant, adminToken, nodeToken, env, pid, ...}; removed by stop()
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import yaml from 'js-yaml';
import { generate } from 'selfsigned';
import { createToken } from '../../shared/auth/tokens';
import { claimLocalPodCidrPool } from './pod-cidr-pool';
import { loadConfig, type Config } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { ensureSystemNamespaces } from '../../shared/system-namespaces';
import { wiring } from '../wiring';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDBLocal, type DynamoDBLocal } from './dynamodb';
import { startLocalRuntime, type LocalRuntime } from './runtime';
import { startSqs, type LocalSqs } from './sqs';
import { createTables } from './tables';

export interface LocalStack {
  /** https://127.0.0.1:PORT (tenants live under /clusters/{tenant}). */
  readonly apiUrl: string;
  /** PEM of the CA that signed the API's serving certificate. */
  readonly caCert: string;
  /** Admin token of the `default` tenant (system:masters). */
  readonly adminToken: string;
  /** Node token of the `default` tenant (system:node:local, system:nodes). */
  readonly nodeToken: string;
  readonly tenant: 'default';
  /** `${stateDir}/kubeconfig`: admin kubeconfig of the default tenant. */
  readonly kubeconfigPath: string;
  /** Everything a child process (node agent, tests) needs to reach the stack's AWS services. */
  readonly env: Record<string, string>;
  /** Creates tokens for another tenant (a virtual cluster needs nothing else to exist). */
  createTenant(tenant: string): Promise<{ adminToken: string; nodeToken: string }>;
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
  nodeToken: string;
  env: Record<string, string>;
  pid: number;
  caCertPath: string;
  kubeconfigPath: string;
}

const TENANT_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * A fresh private CA and a serving certificate for 127.0.0.1 and localhost signed by it (EC P-256,
 * SHA-256), all PEM. The CA goes into kubeconfigs; key and cert into the HTTPS server.
 */
export async function makeCertificates(): Promise<{ caCert: string; key: string; cert: string }> {
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
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + YEAR_MS),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { caCert: ca.cert, key: server.private, cert: server.cert };
}

/**
 * Writes a kubeconfig (mode 0600) for `tenant` at `path`: server `${apiUrl}/clusters/${tenant}`,
 * the CA inline, a bearer-token user. Context `stratus-local` for the default tenant,
 * `stratus-local-${tenant}` otherwise.
 */
export async function writeKubeconfigFile(
  path: string,
  opts: { apiUrl: string; caCert: string; tenant: string; token: string; user?: string },
): Promise<void> {
  const name = opts.tenant === 'default' ? 'stratus-local' : `stratus-local-${opts.tenant}`;
  const user = opts.user ?? `${name}-admin`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name,
        cluster: {
          server: `${opts.apiUrl}/clusters/${opts.tenant}`,
          'certificate-authority-data': Buffer.from(opts.caCert, 'utf8').toString('base64'),
        },
      },
    ],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name, context: { cluster: name, user, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, yaml.dump(doc, { lineWidth: -1 }), { mode: 0o600 });
  await chmod(path, 0o600);
}

/**
 * Creates a tenant's admin token (system:masters) and node token (system:node:local,
 * system:nodes), and its four system namespaces: a virtual cluster needs nothing else to exist. Used by the local stack and by
 * benchmarks that call the handlers without it (bench/api-cost.ts).
 */
export async function createTenantTokens(
  doc: DynamoDBDocumentClient,
  config: Config,
  tenant: string,
): Promise<{ adminToken: string; nodeToken: string }> {
  if (!TENANT_NAME.test(tenant)) throw new Error(`invalid tenant name ${JSON.stringify(tenant)}: use a DNS label`);
  const [adminToken, nodeToken] = await Promise.all([
    createToken(doc, config, { tenant, user: 'admin', groups: ['system:masters', 'system:authenticated'] }),
    createToken(doc, config, {
      tenant,
      user: 'system:node:local',
      groups: ['system:nodes', 'system:authenticated'],
    }),
  ]);
  // A cluster has its system namespaces from its first second, as Kubernetes' apiserver makes them.
  await ensureSystemNamespaces(new ObjectStore(doc, config), tenant);
  return { adminToken, nodeToken };
}

/**
 * Starts the whole local stack and resolves once the API answers on its HTTPS port.
 * Sets process.env to the stack's env (the handlers run in this process). On failure, stops
 * whatever it had started and rejects. Reports progress through opts.log.
 */
export async function startLocalStack(opts: {
  stateDir: string;
  httpPort?: number;
  log?: (s: string) => void;
}): Promise<LocalStack> {
  const log = opts.log ?? (() => {});
  const stateDir = resolve(opts.stateDir);
  const started = Date.now();
  await mkdir(stateDir, { recursive: true });

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
    log('starting DynamoDB Local and the SQS emulator');
    const certsP = makeCertificates();
    const [ddbResult, sqsResult] = await Promise.allSettled([startDynamoDBLocal({ log }), startSqs()]);
    if (ddbResult.status === 'fulfilled') cleanups.push(() => ddbResult.value.stop());
    if (sqsResult.status === 'fulfilled') cleanups.push(() => sqsResult.value.stop());
    if (ddbResult.status === 'rejected') throw ddbResult.reason;
    if (sqsResult.status === 'rejected') throw sqsResult.reason;
    const ddb: DynamoDBLocal = ddbResult.value;
    const sqs: LocalSqs = sqsResult.value;
    log(`SQS emulator ready on ${sqs.endpoint}`);

    const config: Config = { ...loadConfig(process.env), region: LOCAL_REGION };
    const caCertPath = join(stateDir, 'ca.crt');
    // A /16 of pod CIDRs no other local stack on this Docker host uses (infra/local/pod-cidr-pool.ts).
    let podCidrPool = process.env.STRATUS_POD_CIDR_POOL;
    if (!podCidrPool) {
      const claim = await claimLocalPodCidrPool();
      podCidrPool = claim.pool;
      cleanups.push(claim.release);
      log(`pod CIDR pool ${podCidrPool}`);
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
      // Node lifecycle settings pass through when set (tests and demos use short values).
      ...Object.fromEntries(
        ['STRATUS_NODE_MONITOR_GRACE_SECONDS', 'STRATUS_DEFAULT_TOLERATION_SECONDS'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])),
      ),
      STRATUS_TENANT: 'default',
      STRATUS_POD_CIDR_POOL: podCidrPool,
      // Shared secret between the api function and node agents for the kubelet endpoint (logs);
      // API tokens are stored hashed, so agents cannot check those. On AWS: Secrets Manager.
      STRATUS_KUBELET_TOKEN: process.env.STRATUS_KUBELET_TOKEN ?? randomBytes(32).toString('base64url'),
      STRATUS_CA_FILE: caCertPath,
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
    log('creating the default tenant');
    const { adminToken, nodeToken } = await createTenant('default');

    log('starting the local Lambda runtime');
    const runtime: LocalRuntime = await startLocalRuntime({
      wiring,
      env,
      httpPort: opts.httpPort,
      tls: { key: certs.key, cert: certs.cert },
      log,
    });
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
      nodeToken,
      env,
      pid: process.pid,
      caCertPath,
      kubeconfigPath,
    };
    await writeFile(stackFile, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    // Pushed last, so stop() removes it first: no one should find a stack that is going away.
    cleanups.push(() => rm(stackFile, { force: true }));
    log(`local stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${apiUrl}/clusters/default`);

    let stopped: Promise<void> | undefined;
    return {
      apiUrl,
      caCert: certs.caCert,
      adminToken,
      nodeToken,
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
