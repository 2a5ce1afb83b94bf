import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/*
 * The encrypted form of a stored Secret (issue #16). Pure: no I/O, no key management (keys.ts).
 *
 *   MAGIC | u16 header length | header (JSON) | 12-byte nonce | AES-256-GCM ciphertext | 16-byte tag
 *
 * header = {"k": data key id, "ns": namespace, "n": name, "u": uid}: what it takes to pick the
 * key and to check where the ciphertext belongs, readable without the key (names are readable in
 * the table's keys anyway; the values are not). The authenticated data is the cluster (never in
 * the header: it comes from where the ciphertext is read, the item's partition key) followed by
 * the header bytes, so a ciphertext moved to another cluster, namespace or name, or given another
 * key id or uid, fails to decrypt; a reader that knows the namespace and name from the item's key
 * also checks them against the header before decrypting.
 *
 * The plaintext is the compressed object (shared/store/codec.ts: brotli JSON), so compression
 * still saves its write units; compressing before encrypting leaks only the length, which the
 * plaintext stores leaked as well.
 *
 * MAGIC cannot begin a brotli stream of shared/store/codec.ts (its first byte is 0x0b, 0x1b or
 * 0x8b: window bits 22) nor a JSON string, so readers tell envelopes from plain stored objects.
 */

export const MAGIC = Buffer.from('stratus:enc:v1:', 'ascii');
const NONCE = 12;
const TAG = 16;

/** Where a sealed object belongs: part of the authenticated data. */
export interface SealedIdentity {
  readonly cluster: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface EnvelopeHeader {
  readonly keyId: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** A decryption that must not succeed: wrong place, wrong key, tampered bytes. */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
}

/** Raised when the data key an envelope names is not in memory (the caller loads it and retries). */
export class DataKeyNotLoaded extends Error {
  override readonly name = 'DataKeyNotLoaded';
  constructor(
    readonly cluster: string,
    readonly keyId: string,
  ) {
    super(`data key ${keyId} of cluster ${cluster} is not loaded`);
  }
}

export const isEnvelope = (o: unknown): o is Uint8Array =>
  o instanceof Uint8Array && o.length > MAGIC.length && Buffer.from(o.buffer, o.byteOffset, MAGIC.length).equals(MAGIC);

function aad(cluster: string, header: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`stratus/secret\0${cluster}\0`, 'utf8'), header]);
}

/** Seals `plaintext` (the compressed object) for `id` under data key `key` (32 bytes) named `keyId`. */
export function seal(plaintext: Uint8Array, id: SealedIdentity, keyId: string, key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new Error('a data key is 32 bytes (AES-256)');
  const header = Buffer.from(JSON.stringify({ k: keyId, ns: id.namespace, n: id.name, u: id.uid }), 'utf8');
  if (header.length > 0xffff) throw new Error('envelope header too long');
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad(id.cluster, header));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(header.length);
  const out = Buffer.concat([MAGIC, len, header, nonce, body, cipher.getAuthTag()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The header of an envelope (which key, which object), read without any key. */
export function readHeader(envelope: Uint8Array): { header: EnvelopeHeader; headerBytes: Buffer; rest: Buffer } {
  const b = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (!isEnvelope(b)) throw new EnvelopeError('not an envelope');
  const len = b.readUInt16BE(MAGIC.length);
  const start = MAGIC.length + 2;
  if (b.length < start + len + NONCE + TAG) throw new EnvelopeError('envelope truncated');
  const headerBytes = b.subarray(start, start + len);
  let raw: { k?: unknown; ns?: unknown; n?: unknown; u?: unknown };
  try {
    raw = JSON.parse(headerBytes.toString('utf8')) as typeof raw;
  } catch {
    throw new EnvelopeError('envelope header unreadable');
  }
  if (typeof raw.k !== 'string' || typeof raw.ns !== 'string' || typeof raw.n !== 'string' || typeof raw.u !== 'string') throw new EnvelopeError('envelope header incomplete');
  return { header: { keyId: raw.k, namespace: raw.ns, name: raw.n, uid: raw.u }, headerBytes, rest: b.subarray(start + len) };
}

/**
 * The plaintext of an envelope read in `cluster`. `expect` (namespace and name), when the reader
 * knows them from where it read (an object item's sort key), must match the header. `keyOf`
 * returns the data key of an id, or throws DataKeyNotLoaded.
 */
export function open(
  envelope: Uint8Array,
  cluster: string,
  keyOf: (keyId: string) => Uint8Array,
  expect?: { namespace: string; name: string },
): { plaintext: Buffer; header: EnvelopeHeader } {
  const { header, headerBytes, rest } = readHeader(envelope);
  if (expect && (expect.namespace !== header.namespace || expect.name !== header.name))
    throw new EnvelopeError(`ciphertext of ${header.namespace}/${header.name} found at ${expect.namespace}/${expect.name}`);
  const key = keyOf(header.keyId);
  const nonce = rest.subarray(0, NONCE);
  const tag = rest.subarray(rest.length - TAG);
  const body = rest.subarray(NONCE, rest.length - TAG);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(aad(cluster, headerBytes));
    decipher.setAuthTag(tag);
    return { plaintext: Buffer.concat([decipher.update(body), decipher.final()]), header };
  } catch {
    throw new EnvelopeError(`secret ${header.namespace}/${header.name} does not decrypt in cluster ${cluster} (moved, tampered or wrong key)`);
  }
}
