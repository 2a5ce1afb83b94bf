import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import type { KubeObject } from '../resources';

/*
 * How an object is stored in the `o` attribute of object items and change-log entries.
 *
 * DynamoDB bills writes per KB of item (and transactional writes twice), and a running pod's
 * JSON is about 2 KB: brotli brings it to about 0.7 KB, under the 1 KB step, which halves the
 * units of every pod write and of its log entry (docs/cost.md). So `o` is a binary attribute
 * holding the brotli-compressed JSON. The attributes indexes and stream filters read (pk, sk,
 * rv, nodeKey, res, gc, ...) stay plain and readable; only the object body is compressed.
 *
 * Readers accept all three forms `o` can take: a JSON string (items written before compression),
 * bytes (the SDK's unmarshalled B), and a base64 string (B as Lambda's stream events carry it).
 */

/** Brotli quality 6: within a few percent of 11's size at a fortieth of its CPU for 2 KB objects. */
const OPTIONS = { params: { [constants.BROTLI_PARAM_QUALITY]: 6, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } };

/** The stored form of an object: brotli-compressed JSON bytes. */
export function encodeObject(obj: KubeObject): Uint8Array {
  return encodeValue(obj);
}

/** The object from any stored form of `o` (see above). */
export function decodeObject(o: unknown): KubeObject {
  return decodeValue(o) as KubeObject;
}

/** Any JSON value in the stored form (a group change-log entry holds a list of changes). */
export function encodeValue(value: unknown): Uint8Array {
  const b = brotliCompressSync(JSON.stringify(value), OPTIONS);
  // A plain Uint8Array (not a Buffer, whose toJSON would turn it into a list of numbers).
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The value from any stored form (see above). */
export function decodeValue(o: unknown): unknown {
  if (typeof o === 'string') {
    if (o.startsWith('{') || o.startsWith('[')) return JSON.parse(o);
    return JSON.parse(brotliDecompressSync(Buffer.from(o, 'base64')).toString('utf8'));
  }
  if (o instanceof Uint8Array) return JSON.parse(brotliDecompressSync(o).toString('utf8'));
  throw new Error(`not a stored object: ${typeof o}`);
}

/** Approximate stored size of some items (binary attributes by their length), for batching limits. */
export function approximateBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? 'x'.repeat(v.length) : v)));
}
