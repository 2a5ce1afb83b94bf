/**
 * Issue #16: ServiceAccount signing-key rotation, run for real (shared/serviceaccounts/rotate.ts):
 * `stratus serviceaccounts rotate-key` adds a key (new tokens carry its kid, tokens of the old key
 * still verify, JWKS serves both); `prune-keys` keeps the old key within the grace and, with
 * `--grace 0`, removes it, after which its tokens are refused with 401.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually } from '../helpers/api';
import { createTestCluster, type TestCluster } from '../helpers/clusters';

const stack = inject('stack');
const repoRoot = join(import.meta.dirname, '..', '..');
let cluster: TestCluster;

function stratus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(repoRoot, 'bin/stratus.mjs'), ...args, '--state-dir', stack.stateDir], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** A TokenRequest for the default ServiceAccount of `default`. */
async function newToken(): Promise<string> {
  return eventually(async () => {
    const r = await cluster.api.post('/api/v1/namespaces/default/serviceaccounts/default/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} });
    return r.status === 201 ? (r.body.status.token as string) : undefined;
  }, 30_000, 'a service account token');
}
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
/** The status of `kubectl auth whoami`'s request with `token`. */
const whoami = async (token: string) => (await Api.forTenant(cluster.tenant, token).post('/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' })).status;
const jwksKids = async () => ((await new Api(`${stack.apiUrl}/clusters/${cluster.tenant}`, undefined, stack.caCert).get('/openid/v1/jwks')).body.keys as { kid: string }[]).map((k) => k.kid).sort();

beforeAll(async () => {
  cluster = await createTestCluster('sakeyrot');
}, 60_000);

describe('stratus serviceaccounts rotate-key and prune-keys', () => {
  it('a new key signs new tokens, the old key verifies until pruned, then its tokens are 401', async () => {
    // Arrange: a token of the cluster's first key
    const before = await newToken();
    const oldKid = kidOf(before)!;
    expect(await whoami(before)).toBe(201);

    // Act: rotate this cluster's key
    const rotated = await stratus(['serviceaccounts', 'rotate-key', '--cluster', cluster.tenant]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const m = new RegExp(`^new signing keys: ${cluster.tenant}/(\\S+)$`, 'm').exec(rotated.stdout);
    expect(m, rotated.stdout).not.toBeNull();
    const newKid = m![1]!;
    expect(newKid).not.toBe(oldKid);

    // Assert: new tokens carry the new kid (within the api's 60 s key cache); the old token still verifies; JWKS serves both
    const after = await eventually(async () => {
      const t = await newToken();
      return kidOf(t) === newKid ? t : undefined;
    }, 90_000, 'a token signed by the new key');
    expect(await whoami(after)).toBe(201);
    expect(await whoami(before)).toBe(201);
    await eventually(async () => ((await jwksKids()).join() === [oldKid, newKid].sort().join() ? true : undefined), 90_000, 'JWKS with both keys');

    // Within the default grace (49 h) prune keeps the old key
    const kept = await stratus(['serviceaccounts', 'prune-keys', '--cluster', cluster.tenant]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain('pruned: (none)');
    expect(await whoami(before)).toBe(201);

    // Act: prune with no grace
    const pruned = await stratus(['serviceaccounts', 'prune-keys', '--grace', '0', '--cluster', cluster.tenant]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain(`pruned: ${cluster.tenant}/${oldKid}`);

    // Assert: the old key's token is refused (within the 60 s key cache), the new one works, JWKS serves the new key only
    await eventually(async () => ((await whoami(before)) === 401 ? true : undefined), 90_000, 'the old key\'s token refused');
    expect(await whoami(after)).toBe(201);
    await eventually(async () => ((await jwksKids()).join() === newKid ? true : undefined), 90_000, 'JWKS with the new key only');
  }, 400_000);

  it('has --help, and refuses an unknown cluster', async () => {
    for (const cmd of ['rotate-key', 'prune-keys']) {
      const help = await stratus(['serviceaccounts', cmd, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('--cluster <name...>');
    }
    const unknown = await stratus(['serviceaccounts', 'rotate-key', '--cluster', 'no-such-cluster-x']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no-such-cluster-x has no service account signing keys');
  });
});
