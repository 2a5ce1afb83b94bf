import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { createTenantTokens } from '../../infra/local/stack';
import { LABELS } from '../../node-agent/docker-runtime';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, uniqueName } from './api';

const run = promisify(execFile);

/** A cluster a test makes for itself: its name, an admin API client and a join token for its agents. */
export interface TestCluster {
  tenant: string;
  api: Api;
  /** A join token its agents join with (startNodeAgent's joinToken). */
  joinToken: string;
}

/** A new cluster named after `prefix` (unique, a DNS label), with its admin and join tokens; its rate limits are the run's raised defaults (test/global-setup.ts). */
export async function createTestCluster(prefix: string): Promise<TestCluster> {
  const config = loadConfig();
  const tenant = uniqueName(prefix).replace(/[^a-z0-9-]/g, '').slice(0, 40);
  const { adminToken, joinToken } = await createTenantTokens(createDocumentClient(config), config, tenant);
  return { tenant, api: Api.forTenant(tenant, adminToken), joinToken };
}

/** Runs a command in a pod's `main` container (docker exec), answering its exit code and output. */
export async function execInPod(uid: string, cmd: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  const [c] = await new Docker().listContainers({ filters: { label: [`${LABELS.podUid}=${uid}`, `${LABELS.containerName}=main`] } });
  if (!c) throw new Error(`no main container for pod ${uid}`);
  try {
    const { stdout, stderr } = await run('docker', ['exec', c.Id, ...cmd], { timeout: timeoutMs });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}
