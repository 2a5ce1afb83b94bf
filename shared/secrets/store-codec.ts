import type { KubeObject } from '../resources';
import { decodeObject, encodeObject } from '../store/codec';
import { parsePartitionKey } from '../store/keys';
import { DataKeyNotLoaded, isEnvelope, open, seal } from './envelope';
import { secretKeyring } from './keys';

/*
 * Stored forms of objects, with Secrets encrypted (issue #16). Every place the store writes an
 * object body (the object item's `o`, a change-log entry's `o`, and so the stream images of both)
 * goes through encodeStored, and every place it reads one through decodeStored: a Secret's body
 * (the whole object: data, stringData never stored, and the last-applied annotation that
 * `kubectl apply` copies the values into) is compressed, then sealed (envelope.ts) under the
 * cluster's current data key (keys.ts). Other kinds are stored as before (codec.ts).
 *
 * Encoders are sync (they run inside the store's transaction builders): the writer calls
 * `prepareSecretWrite(cluster)` first. Decoders are sync too and throw DataKeyNotLoaded for a key
 * not in memory; `withDataKeys` loads it and runs the decoder again.
 */

/** Whether objects of this partition are Secrets (core group, `secrets`). */
export function isSecretsPartition(pk: string): boolean {
  const k = parsePartitionKey(pk);
  return !!k && k.group === '' && k.resource === 'secrets';
}

let enabled = process.env.STRATUS_SECRETS_ENCRYPTION !== 'off';
/** Turns encryption of new writes on or off in this process (bench/secrets.ts compares both; reads handle either). */
export function setSecretsEncryption(on: boolean): void {
  enabled = on;
}
export const secretsEncryptionEnabled = () => enabled;

/** Loads the cluster's current data key before a Secret write (no-op when encryption is off). */
export async function prepareSecretWrite(cluster: string): Promise<void> {
  if (enabled) await secretKeyring().prepare(cluster);
}

/** The stored form of `obj` in partition `pk`: sealed for Secrets, compressed JSON otherwise. */
export function encodeStored(pk: string, obj: KubeObject): Uint8Array {
  const compressed = encodeObject(obj);
  if (!enabled || !isSecretsPartition(pk)) return compressed;
  const cluster = parsePartitionKey(pk)!.tenant;
  const current = secretKeyring().currentLoaded(cluster);
  if (!current) throw new DataKeyNotLoaded(cluster, '(current)');
  const md = obj.metadata;
  return seal(compressed, { cluster, namespace: md.namespace ?? '', name: md.name ?? '', uid: md.uid ?? '' }, current.keyId, current.key);
}

/**
 * The object from a stored `o` read in partition `pk`. `at` (namespace and name, from an object
 * item's sort key) is checked against the envelope. Accepts every form codec.ts does, and
 * envelopes as bytes or base64 (stream images).
 */
export function decodeStored(pk: string, o: unknown, at?: { namespace: string; name: string }): KubeObject {
  const bytes = typeof o === 'string' && !o.startsWith('{') && !o.startsWith('[') ? Buffer.from(o, 'base64') : o;
  if (!isEnvelope(bytes)) return decodeObject(o);
  const k = parsePartitionKey(pk);
  if (!k) throw new Error(`an envelope outside an object partition: ${pk}`);
  const ring = secretKeyring();
  const { plaintext, header } = open(bytes, k.tenant, (id) => ring.keyOf(k.tenant, id), at);
  const obj = decodeObject(new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength));
  if ((obj.metadata.namespace ?? '') !== header.namespace || obj.metadata.name !== header.name || (obj.metadata.uid ?? '') !== header.uid)
    throw new Error(`secret ${header.namespace}/${header.name}: sealed metadata does not match its header`);
  return obj;
}

/** An object item's namespace and name from its sort key (`ns/name`, cluster-scoped `/name`). */
export function itemLocation(sk: string): { namespace: string; name: string } {
  const slash = sk.indexOf('/');
  return { namespace: sk.slice(0, slash), name: sk.slice(slash + 1) };
}

/** Runs a decoder, loading each data key it misses (a few at most) and running it again. */
export async function withDataKeys<T>(fn: () => T): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof DataKeyNotLoaded) || attempt >= 8) throw e;
      if (e.keyId === '(current)') await secretKeyring().prepare(e.cluster);
      else await secretKeyring().load(e.cluster, e.keyId);
    }
  }
}
