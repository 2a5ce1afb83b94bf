import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataKeyNotLoaded, EnvelopeError, isEnvelope, open, readHeader, seal, type SealedIdentity } from '../../shared/secrets/envelope';
import { FileKek } from '../../shared/secrets/kek';
import { encodeObject } from '../../shared/store/codec';

/* Issue #16: the sealed form of a stored Secret (shared/secrets/envelope.ts) and the local KEK. */

const id: SealedIdentity = { cluster: 'acme', namespace: 'default', name: 'db', uid: 'u-1' };
const k1 = randomBytes(32);
const k2 = randomBytes(32);
const keys: Record<string, Buffer> = { 'dk-1': k1, 'dk-2': k2 };
const keyOf = (kid: string) => {
  const k = keys[kid];
  if (!k) throw new DataKeyNotLoaded('acme', kid);
  return k;
};
const plaintext = encodeObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default', uid: 'u-1' }, data: { password: Buffer.from('hunter2-VERY-SECRET').toString('base64') } });

describe('secret envelope', () => {
  it('round-trips, and holds no copy of the value', () => {
    const env = seal(plaintext, id, 'dk-1', k1);
    expect(isEnvelope(env)).toBe(true);
    expect(isEnvelope(plaintext)).toBe(false);
    expect(Buffer.from(open(env, 'acme', keyOf, { namespace: 'default', name: 'db' }).plaintext).equals(Buffer.from(plaintext))).toBe(true);
    const raw = Buffer.from(env).toString('latin1');
    expect(raw).not.toContain('hunter2');
    expect(raw).not.toContain(Buffer.from('hunter2-VERY-SECRET').toString('base64'));
    // Two seals of the same object differ (a fresh nonce each time).
    expect(Buffer.from(seal(plaintext, id, 'dk-1', k1)).equals(Buffer.from(env))).toBe(false);
  });

  it.each([
    ['another cluster', 'other', undefined],
    ['another name (item key)', 'acme', { namespace: 'default', name: 'db2' }],
    ['another namespace (item key)', 'acme', { namespace: 'kube-system', name: 'db' }],
  ] as const)('fails to decrypt when moved to %s', (_what, cluster, at) => {
    const env = seal(plaintext, id, 'dk-1', k1);
    expect(() => open(env, cluster, keyOf, at)).toThrow(EnvelopeError);
  });

  it.each([
    ['a ciphertext byte', (b: Buffer) => (b[b.length - 20] ^= 1)],
    ['a tag byte', (b: Buffer) => (b[b.length - 1] ^= 1)],
    ['a nonce byte', (b: Buffer) => (b[readHeader(b).headerBytes.length + 17 + 2] ^= 1)],
  ] as const)('fails when %s is changed', (_what, tamper) => {
    const b = Buffer.from(seal(plaintext, id, 'dk-1', k1));
    tamper(b);
    expect(() => open(b, 'acme', keyOf)).toThrow(EnvelopeError);
  });

  it.each([
    ['name', { n: 'db2' }],
    ['namespace', { ns: 'other' }],
    ['uid', { u: 'u-2' }],
    ['key id', { k: 'dk-2' }],
  ] as const)('fails when the header is rewritten (%s) to match a new place', (_what, change) => {
    const b = Buffer.from(seal(plaintext, id, 'dk-1', k1));
    const { header, headerBytes } = readHeader(b);
    const forged = Buffer.from(JSON.stringify({ k: header.keyId, ns: header.namespace, n: header.name, u: header.uid, ...change }));
    const len = Buffer.alloc(2);
    len.writeUInt16BE(forged.length);
    const moved = Buffer.concat([b.subarray(0, 15), len, forged, b.subarray(17 + headerBytes.length)]);
    expect(() => open(moved, 'acme', keyOf)).toThrow(EnvelopeError);
  });

  it.each([
    ['dk-1', k1],
    ['dk-2', k2],
  ] as const)('selects the data key the envelope names (%s)', (kid, key) => {
    const env = seal(plaintext, id, kid, key);
    expect(readHeader(env).header.keyId).toBe(kid);
    expect(open(env, 'acme', keyOf).header.keyId).toBe(kid);
  });

  it('asks for a data key that is not loaded, and fails under a wrong key', () => {
    expect(() => open(seal(plaintext, id, 'dk-9', randomBytes(32)), 'acme', keyOf)).toThrow(DataKeyNotLoaded);
    // Sealed under k2 but claiming dk-1: the wrong key fails authentication.
    expect(() => open(seal(plaintext, id, 'dk-1', k2), 'acme', keyOf)).toThrow(EnvelopeError);
  });
});

describe('local key-encryption key file', () => {
  it('is made on first use with mode 0600, wraps per cluster and key id, keeps old KEKs after rotation', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kek-')), 'secrets-kek.json');
    const kek = new FileKek(path);
    const dek = randomBytes(32);
    const w = await kek.wrap(dek, { cluster: 'acme', keyId: 'dk-1' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await new FileKek(path).unwrap(w.wrapped, w.kekId, { cluster: 'acme', keyId: 'dk-1' })).equals(dek)).toBe(true);
    await expect(kek.unwrap(w.wrapped, w.kekId, { cluster: 'other', keyId: 'dk-1' })).rejects.toThrow();
    await expect(kek.unwrap(w.wrapped, w.kekId, { cluster: 'acme', keyId: 'dk-2' })).rejects.toThrow();
    const next = await kek.rotate();
    expect(next).not.toBe(w.kekId);
    expect(await kek.currentId()).toBe(next);
    // A process that read the file before the rotation finds the new KEK by rereading it.
    const w2 = await kek.wrap(dek, { cluster: 'acme', keyId: 'dk-1' });
    expect(w2.kekId).toBe(next);
    expect((await new FileKek(path).unwrap(w.wrapped, w.kekId, { cluster: 'acme', keyId: 'dk-1' })).equals(dek)).toBe(true);
    expect(Object.keys((JSON.parse(readFileSync(path, 'utf8')) as { keys: object }).keys)).toHaveLength(2);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
