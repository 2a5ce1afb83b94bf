/**
 * The node's placement key (shared/auth/placement-keys.ts), with which its placement messages are
 * sealed (shared/placement-seal.ts). Fetched with the node's own credential from
 * `POST /clusters/NAME/stratus/v1/placement-key`, held in memory only (never written to disk: a
 * restart fetches it again), and fetched again when a message names another key id (the key was
 * replaced, e.g. after a credential revocation), at most once per REFETCH_INTERVAL_MS. Only the
 * current key opens messages: one sealed under a replaced key is dropped, and the resync starts
 * its pod.
 */
import { z } from 'zod';
import { openPlacement, PlacementSealError, type OpenedPlacement, type PlacementKey, type SealedPlacement } from '../shared/placement-seal';
import { errorMessage, type Logger } from './log';

export const PLACEMENT_KEY_API_PATH = '/stratus/v1/placement-key';
/** Fetches at most this often when messages name a key the node does not hold. */
export const REFETCH_INTERVAL_MS = 5_000;

const KeyAnswer = z.looseObject({ status: z.looseObject({ keyId: z.string().regex(/^[0-9a-f]{1,64}$/), key: z.string() }) });

/** The API call: `post(path, body, schema)` of the agent's API client. */
export type PostFn = <T>(path: string, body: unknown, schema: z.ZodType<T>) => Promise<T>;

/** A placement key fetcher over the agent's API client. */
export function fetchPlacementKey(post: PostFn, nodeName: string): () => Promise<PlacementKey> {
  return async () => {
    const answer = await post(PLACEMENT_KEY_API_PATH, { nodeName }, KeyAnswer);
    const key = Buffer.from(answer.status.key, 'base64');
    if (key.length !== 32) throw new Error(`placement key of ${key.length} bytes, not 32`);
    return { keyId: answer.status.keyId, key };
  };
}

/** What became of a sealed message: opened; to drop (not for this node, tampered); to retry later (no key yet). */
export type OpenResult = { readonly opened: OpenedPlacement } | { readonly drop: string } | { readonly retry: string };

export interface PlacementKeyringOptions {
  readonly cluster: string;
  readonly nodeName: string;
  readonly fetch: () => Promise<PlacementKey>;
  readonly log: Logger;
  /** @default REFETCH_INTERVAL_MS */
  readonly refetchIntervalMs?: number;
}

export class PlacementKeyring {
  private current: PlacementKey | undefined;
  private fetching: Promise<PlacementKey | undefined> | undefined;
  /** When a message last made the agent fetch (a key id it did not hold). */
  private lastMissFetch = -Infinity;

  constructor(private readonly opts: PlacementKeyringOptions) {}

  /** Fetches the key now (at start: the first placement need not wait for it). Never throws. */
  async load(): Promise<void> {
    await this.refetch(true);
  }

  /** Opens a sealed placement received on this node's queue. */
  async open(sealed: SealedPlacement): Promise<OpenResult> {
    if (this.current?.keyId !== sealed.k) await this.refetch(false);
    const key = this.current;
    if (!key) return { retry: 'no placement key yet' };
    if (key.keyId !== sealed.k) return { drop: `sealed under key ${sealed.k}, not this node's key ${key.keyId}` };
    try {
      return { opened: openPlacement(sealed, { cluster: this.opts.cluster, nodeName: this.opts.nodeName }, key) };
    } catch (e) {
      if (e instanceof PlacementSealError) return { drop: e.message };
      throw e;
    }
  }

  private refetch(force: boolean): Promise<PlacementKey | undefined> {
    if (this.fetching) return this.fetching;
    if (!force) {
      // Anyone who may send to this queue can name key ids: such fetches are rate limited.
      if (Date.now() - this.lastMissFetch < (this.opts.refetchIntervalMs ?? REFETCH_INTERVAL_MS)) return Promise.resolve(this.current);
      this.lastMissFetch = Date.now();
    }
    this.fetching = this.opts
      .fetch()
      .then((key) => {
        if (key.keyId !== this.current?.keyId) this.opts.log.info('placement key fetched', { keyId: key.keyId });
        this.current = key;
        return key;
      })
      .catch((e: unknown) => {
        this.opts.log.warn('fetching the placement key failed', { error: errorMessage(e) });
        return this.current;
      })
      .finally(() => {
        this.fetching = undefined;
      });
    return this.fetching;
  }
}
