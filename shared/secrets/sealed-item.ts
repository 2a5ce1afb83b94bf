import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { isEnvelope, open, readHeader, seal } from './envelope';
import { secretKeyring } from './keys';

/*
 * Key material kept outside objects (a cluster's ServiceAccount signing keys, its node PKI's
 * private keys) sealed as Secrets are (issue #16): a JSON value in an envelope (envelope.ts)
 * under the cluster's current data key (keys.ts), with namespace '' and a `~`-name as its place.
 * No Secret has an empty namespace, so such a ciphertext never passes for a Secret's or another
 * item's (the name is checked, and is part of the authenticated data).
 */

const at = (name: string) => ({ namespace: '', name });

/** `value` as JSON, sealed under the cluster's current data key (made on first use). */
export async function sealJson(doc: DynamoDBDocumentClient, config: Config, cluster: string, name: string, value: unknown): Promise<Uint8Array> {
  const { keyId, key } = await secretKeyring(doc, config).prepare(cluster);
  return seal(Buffer.from(JSON.stringify(value), 'utf8'), { cluster, ...at(name), uid: '' }, keyId, key);
}

/** The value of a sealed item (its data key loaded on demand); throws when it does not belong there. */
export async function openJson<T>(doc: DynamoDBDocumentClient, config: Config, cluster: string, name: string, sealed: Uint8Array): Promise<T> {
  const ring = secretKeyring(doc, config);
  await ring.load(cluster, readHeader(sealed).header.keyId);
  const { plaintext } = open(sealed, cluster, (id) => ring.keyOf(cluster, id), at(name));
  return JSON.parse(plaintext.toString('utf8')) as T;
}

/** Whether a sealed value is under a data key other than the cluster's current one (a rotation re-seals it). */
export async function sealedUnderOldKey(doc: DynamoDBDocumentClient, config: Config, cluster: string, sealed: unknown): Promise<boolean> {
  if (!isEnvelope(sealed)) return false;
  return readHeader(sealed).header.keyId !== (await secretKeyring(doc, config).prepare(cluster)).keyId;
}

export { isEnvelope };
