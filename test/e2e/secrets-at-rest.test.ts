import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { describe, expect, inject, it } from 'vitest';
import { DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { createTenantTokens, writeKubeconfigFile } from '../../infra/local/stack';
import { loadConfig } from '../../shared/config';
import { resourceByName } from '../../shared/resources';
import { isEnvelope } from '../../shared/secrets/envelope';
import { dataKeysInUse, pruneDataKeys, rotateSecretKeys } from '../../shared/secrets/rotate';
import { secretKeyring } from '../../shared/secrets/keys';
import { newSigningKey, readSigningKeys, signingKeysItemKey } from '../../shared/serviceaccounts/keys';
import { pkiKey } from '../../shared/auth/node-pki';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * Issue #16, Secrets encrypted at rest: Secrets made through the API (kubectl create secret, and
 * kubectl apply, which copies the values into the last-applied annotation) leave no readable
 * copy of their values in the objects table or the change log (raw items, anything compressed
 * decompressed), while get and watch still return them; a rotation keeps every Secret readable.
 * The same for key material kept outside objects: ServiceAccount signing keys (the JWK's private
 * "d") and the node PKI's private keys (PEM) are sealed, items of the older clear form are read
 * and sealed in place, and a data key no ciphertext names any more is pruned.
 */
const config = () => loadConfig();
const k = (kc: string, ...args: string[]) => kubectl(['--kubeconfig', kc, ...args]);

/** Every readable rendering of the raw items of a table (strings, bytes as latin1, decompressed bytes, base64 decoded and decompressed). */
async function rawTableText(table: string): Promise<string> {
  const client = new DynamoDBClient({ region: config().region });
  const parts: string[] = [];
  const walk = (v: AttributeValue | undefined): void => {
    if (!v) return;
    if (v.S !== undefined) {
      parts.push(v.S);
      try {
        parts.push(brotliDecompressSync(Buffer.from(v.S, 'base64')).toString('latin1'));
      } catch {
        /* not compressed */
      }
    }
    if (v.B !== undefined) {
      parts.push(Buffer.from(v.B).toString('latin1'));
      try {
        const plain = brotliDecompressSync(Buffer.from(v.B)).toString('utf8');
        parts.push(plain);
        // A group log entry holds a compressed list; its elements may be base64 again.
        for (const m of plain.matchAll(/"([A-Za-z0-9+/=]{16,})"/g)) parts.push(Buffer.from(m[1]!, 'base64').toString('latin1'));
      } catch {
        /* not compressed */
      }
    }
    if (v.M) for (const x of Object.values(v.M)) walk(x);
    if (v.L) for (const x of v.L) walk(x);
  };
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) for (const v of Object.values(item)) walk(v);
    start = page.LastEvaluatedKey;
  } while (start);
  client.destroy();
  return parts.join('\n');
}

describe('Secrets encrypted at rest', { timeout: 180_000 }, () => {
  it('kubectl create secret and kubectl apply store no readable value; get and watch return it; rotation keeps it readable', async () => {
    // Prepare
    const stack = inject('stack');
    const tenant = uniqueName('sec').replace(/[^a-z0-9-]/g, '');
    const doc = createDocumentClient(config());
    const { adminToken } = await createTenantTokens(doc, config(), tenant);
    const dir = await mkdtemp(join(tmpdir(), 'stratus-sec-'));
    const kc = join(dir, 'kubeconfig');
    await writeKubeconfigFile(kc, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant, token: adminToken });
    const created = `created-${randomBytes(12).toString('hex')}`;
    const applied = `applied-${randomBytes(12).toString('hex')}`;
    const manifest = join(dir, 'secret.yaml');
    await writeFile(manifest, `apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  namespace: default\nstringData:\n  token: ${applied}\n`);

    // Act
    expect((await k(kc, 'create', 'secret', 'generic', 'made', `--from-literal=password=${created}`)).code).toBe(0);
    const apply = await k(kc, 'apply', '-f', manifest);
    expect(apply.code, apply.stderr).toBe(0);
    // An update too (a MODIFIED log entry), through apply again with the same value.
    expect((await k(kc, 'label', 'secret', 'applied', 'x=y')).code).toBe(0);

    // Assess: get returns the values
    const get = async (name: string, key: string) => Buffer.from((await k(kc, 'get', 'secret', name, '-o', `jsonpath={.data.${key}}`)).stdout, 'base64').toString();
    expect(await get('made', 'password')).toBe(created);
    expect(await get('applied', 'token')).toBe(applied);
    // ... and what watchers read (the change log, as the api's watch reads it) holds them
    const store = new ObjectStore(doc, config());
    const events = await store.changesSince(tenant, resourceByName('secrets'), 0);
    const seen = JSON.stringify(events.map((e) => e.object));
    expect(seen).toContain(Buffer.from(created).toString('base64'));
    expect(seen).toContain(applied); // the last-applied annotation
    // ... and no raw item of either table holds a readable copy
    for (const table of [config().objectsTable, config().changesTable]) {
      const text = await rawTableText(table);
      for (const v of [created, applied]) {
        expect(text, table).not.toContain(v);
        expect(text, table).not.toContain(Buffer.from(v).toString('base64'));
      }
    }
    // The object items are envelopes.
    const raw = await doc.send(new (await import('@aws-sdk/lib-dynamodb')).GetCommand({ TableName: config().objectsTable, Key: { pk: `${tenant}#secrets`, sk: 'default/made' } }));
    expect(isEnvelope(raw.Item?.o)).toBe(true);

    // Act: rotate both keys (as `npx stratus secrets rotate-key` does)
    const r = await rotateSecretKeys(doc, config(), { kek: true, dataKey: true, clusters: [tenant] });
    expect(r.rewrapped).toBeGreaterThan(0);
    expect(r.reencrypted).toBeGreaterThanOrEqual(2);

    // Assess: still readable through the API (another process: it loads the new data key by its id)
    expect(await get('made', 'password')).toBe(created);
    expect(await get('applied', 'token')).toBe(applied);
    expect(JSON.stringify((await store.changesSince(tenant, resourceByName('secrets'), 0)).map((e) => e.object))).toContain(applied);
    const after = await rawTableText(config().objectsTable);
    expect(after).not.toContain(created);
    // ... and the superseded data key is still named by the change log: never pruned
    const keys = await secretKeyring(doc, config()).list(tenant);
    expect(keys.length).toBe(2);
    expect((await dataKeysInUse(doc, config(), tenant)).has(keys[0]!.keyId)).toBe(true);
    expect(await pruneDataKeys(doc, config(), tenant, { graceMs: 0 })).toEqual([]);
  });

  it('no private key material in clear: signing keys and node PKI sealed, clear items of the older form read and sealed in place, unused data keys pruned', async () => {
    // Prepare: a cluster whose signing keys are of the older, clear form (as stored before)
    const stack = inject('stack');
    const tenant = uniqueName('sak').replace(/[^a-z0-9-]/g, '');
    const doc = createDocumentClient(config());
    const { adminToken } = await createTenantTokens(doc, config(), tenant);
    const legacy = await newSigningKey();
    await doc.send(new PutCommand({ TableName: config().objectsTable, Item: { ...signingKeysItemKey(tenant), tenant, keys: JSON.stringify([legacy]) } }));
    const dir = await mkdtemp(join(tmpdir(), 'stratus-sak-'));
    const kc = join(dir, 'kubeconfig');
    await writeKubeconfigFile(kc, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant, token: adminToken });
    const item = async (key: Record<string, string>) => (await doc.send(new GetCommand({ TableName: config().objectsTable, Key: key, ConsistentRead: true }))).Item;
    const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

    // Act: issue a token (the api reads the clear item, signs with it, and seals it)
    const token = await k(kc, 'create', 'token', 'default');
    // Assess
    expect(token.code, token.stderr).toBe(0);
    expect(kidOf(token.stdout.trim())).toBe(legacy.kid);
    const sealedItem = await item(signingKeysItemKey(tenant));
    expect(isEnvelope(sealedItem?.sealed)).toBe(true);
    expect(sealedItem?.keys).toBeUndefined();
    expect((await readSigningKeys(doc, config(), tenant))?.map((x) => x.kid)).toEqual([legacy.kid]);
    // ... and the token still authenticates (as the ServiceAccount: whoami)
    const kcSa = join(dir, 'kubeconfig-sa');
    await writeKubeconfigFile(kcSa, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant, token: token.stdout.trim() });
    const whoami = await k(kcSa, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}');
    expect(whoami.stdout, whoami.stderr).toBe('system:serviceaccount:default:default');

    // Assess: no private key material in clear anywhere in either table (every cluster of this
    // run: the node agents' joins made node PKIs, every cluster has signing keys)
    const node = await item(pkiKey('default'));
    expect(isEnvelope(node?.sealed), 'the default cluster has a node PKI, sealed').toBe(true);
    expect(node?.nodeCaKey).toBeUndefined();
    for (const table of [config().objectsTable, config().changesTable]) {
      const text = await rawTableText(table);
      expect(text, table).not.toContain(legacy.privateJwk.d!);
      expect(text, table).not.toMatch(/"d"\s*:\s*"[A-Za-z0-9_-]{43}"/); // a P-256 JWK's private scalar
      expect(text, table).not.toContain('PRIVATE KEY');
    }

    // Act: rotate this cluster's data key, then prune (no grace: nothing else writes here)
    const before = await secretKeyring(doc, config()).list(tenant);
    const r = await rotateSecretKeys(doc, config(), { kek: false, dataKey: true, clusters: [tenant] });
    // Assess: the signing keys were re-sealed under the new key, which leaves the old one unused...
    expect(r.resealed).toBe(1);
    const after = await secretKeyring(doc, config()).list(tenant);
    expect(after.length).toBe(before.length + 1);
    expect(await dataKeysInUse(doc, config(), tenant)).toEqual(new Set([after.at(-1)!.keyId]));
    // ... so it is pruned, and tokens are still issued and verified
    expect(await pruneDataKeys(doc, config(), tenant, { graceMs: 0 })).toEqual(before.map((x) => x.keyId));
    expect((await secretKeyring(doc, config()).list(tenant)).map((x) => x.keyId)).toEqual([after.at(-1)!.keyId]);
    const again = await k(kc, 'create', 'token', 'default');
    expect(again.code, again.stderr).toBe(0);
    expect(kidOf(again.stdout.trim())).toBe(legacy.kid);
    expect((await readSigningKeys(doc, config(), tenant))?.map((x) => x.kid)).toEqual([legacy.kid]);
    // ... while the default grace (24 h) keeps a key superseded just now
    await rotateSecretKeys(doc, config(), { kek: false, dataKey: true, clusters: [tenant] });
    expect(await pruneDataKeys(doc, config(), tenant)).toEqual([]);
  });
});
