import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';

/*
 * Sealed placements: the body of a pod sync message (shared/queue.ts) encrypted with its
 * destination node's own key (shared/auth/placement-keys.ts), so that a node reading another
 * node's queue (the nodes of a fleet share an IAM role on AWS) learns nothing of the pods it
 * carries, and cannot forge a placement or move one into another node's queue. Pure: no I/O.
 *
 *   body = {"kind":"sealed","k":<key id>,"d":<base64: 12-byte nonce | AES-256-GCM ciphertext | 16-byte tag>}
 *
 * The plaintext is the pod sync message's JSON plus `sealedAt` (epoch ms, when the sender sealed
 * it): the agent takes the carried pod's age from it, not from SQS's SentTimestamp, so a message
 * copied and sent again later does not pass for a fresh one (node-agent/agent.ts
 * CARRIED_POD_MAX_AGE_MS).
 *
 * The authenticated data is the cluster, the node name and the key id. The receiver knows the
 * first two from where it reads (its own queue), so a message sealed for another node, cluster or
 * key fails to open. The pod's uid is not in clear (it would tell other nodes which pods run
 * where): it travels inside the ciphertext, which the same tag authenticates (the agent uses a
 * carried pod only when its uid is the one the message names); the opener also checks that the
 * plaintext names the cluster it was opened for.
 */

export const SEALED_PLACEMENT_KIND = 'sealed';
const NONCE = 12;
const TAG = 16;

/** A node's placement key: 32 bytes (AES-256) and its id (random, hex). */
export interface PlacementKey {
  readonly keyId: string;
  readonly key: Uint8Array;
}

/** Where a sealed placement belongs: its authenticated data. */
export interface PlacementDestination {
  readonly cluster: string;
  readonly nodeName: string;
}

export const SealedPlacementSchema = z.object({
  kind: z.literal(SEALED_PLACEMENT_KIND),
  k: z.string().regex(/^[0-9a-f]{1,64}$/),
  d: z.string().min(1),
});
export type SealedPlacement = z.infer<typeof SealedPlacementSchema>;

/** A placement that does not open: wrong node, cluster or key, tampered, malformed. Never retried. */
export class PlacementSealError extends Error {
  override readonly name = 'PlacementSealError';
}

function aad(to: PlacementDestination, keyId: string): Buffer {
  return Buffer.from(`stratus/placement/v1\0${to.cluster}\0${to.nodeName}\0${keyId}`, 'utf8');
}

/** The sealed message body of `message` (a pod sync message) for node `to`, sealed at `now` (ms). */
export function sealPlacement(message: { readonly tenant: string } & Record<string, unknown>, to: PlacementDestination, key: PlacementKey, now = Date.now()): string {
  if (key.key.length !== 32) throw new Error('a placement key is 32 bytes (AES-256)');
  if (message.tenant !== to.cluster) throw new Error(`a placement for cluster ${message.tenant} cannot be sealed for cluster ${to.cluster}`);
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(aad(to, key.keyId));
  const plaintext = Buffer.from(JSON.stringify({ ...message, sealedAt: now }), 'utf8');
  const data = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return JSON.stringify({ kind: SEALED_PLACEMENT_KIND, k: key.keyId, d: data.toString('base64') } satisfies SealedPlacement);
}

/** What an opened placement holds: the pod sync message (not yet parsed: the caller's schema) and when it was sealed. */
export interface OpenedPlacement {
  readonly message: Record<string, unknown>;
  readonly sealedAt: Date;
}

/**
 * Opens a sealed placement received by node `at` with its key. Throws PlacementSealError when it
 * was not sealed for this node and cluster with this key, or was changed since.
 */
export function openPlacement(sealed: SealedPlacement, at: PlacementDestination, key: PlacementKey): OpenedPlacement {
  if (sealed.k !== key.keyId) throw new PlacementSealError(`sealed under key ${sealed.k}, not this node's key ${key.keyId}`);
  const data = Buffer.from(sealed.d, 'base64');
  if (data.length < NONCE + TAG) throw new PlacementSealError('sealed placement too short');
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, data.subarray(0, NONCE));
    decipher.setAAD(aad(at, key.keyId));
    decipher.setAuthTag(data.subarray(data.length - TAG));
    plaintext = Buffer.concat([decipher.update(data.subarray(NONCE, data.length - TAG)), decipher.final()]);
  } catch {
    throw new PlacementSealError(`placement not sealed for node ${at.nodeName} of cluster ${at.cluster}, or changed since`);
  }
  let message: unknown;
  try {
    message = JSON.parse(plaintext.toString('utf8'));
  } catch {
    throw new PlacementSealError('sealed placement holds no JSON');
  }
  const m = message as { tenant?: unknown; sealedAt?: unknown };
  if (typeof message !== 'object' || message === null || m.tenant !== at.cluster) throw new PlacementSealError('sealed placement names another cluster');
  if (typeof m.sealedAt !== 'number' || !Number.isFinite(m.sealedAt)) throw new PlacementSealError('sealed placement has no sealedAt');
  const { sealedAt, ...rest } = message as Record<string, unknown>;
  return { message: rest, sealedAt: new Date(sealedAt as number) };
}
