/**
 * The api's side of the cap on open long-running requests (shared/long-running.ts): a watch, a
 * followed log, an exec/attach/port-forward session takes a slot of its user and of its cluster
 * before it starts, and frees them when its stream closes, whichever way it closes.
 */
import { Readable } from 'node:stream';
import type { Identity } from '../../shared/auth/tokens';
import { exemptFromCap, type Slot } from '../../shared/long-running';
import { tooManyRequests } from '../../shared/rate-limit';
import type { ApiDeps } from './router';

/**
 * The longest a stream of the api function can last: its invocation's 15 minutes (Lambda's limit,
 * infra/wiring.ts timeoutSeconds; the local runtime closes a response stream then too), and a
 * minute. Its slots are not renewed past that, so a close that was never seen cannot hold them.
 */
export const API_STREAM_MAX_MS = (900 + 60) * 1000;

/**
 * Takes the slots of a long-running request of `identity` (the authenticated one: the user the
 * rate limits count too), or throws kube-apiserver's 429 TooManyRequests with Retry-After.
 * Undefined when nothing is held: no cap configured in this instance, or a node's request.
 * `maxHoldMs`: how long the stream can last at most (its slots are not renewed past it).
 */
export async function takeSlot(deps: Pick<ApiDeps, 'slots'>, identity: Identity, maxHoldMs?: number): Promise<Slot | undefined> {
  if (!deps.slots || exemptFromCap(identity.groups)) return undefined;
  const decision = await deps.slots.acquire(identity.tenant, identity.user, await deps.slots.limitsOf(identity.tenant), maxHoldMs);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfterSeconds);
  return decision.slot;
}

/**
 * Ties `slot` to a response: freed when its streamed body closes (the client went away, the
 * watch timed out or failed, the server destroyed it), at once when the answer is no stream.
 */
export function heldBy<T extends { readonly body: unknown }>(res: T, slot: Slot | undefined): T {
  if (!slot) return res;
  const body = res.body;
  if (body instanceof Readable && !body.destroyed) body.once('close', () => void slot.release());
  else void slot.release();
  return res;
}

/** Runs `open` (which makes the stream) holding `slot`: freed if `open` fails. */
export async function openHolding<T extends { readonly body: unknown }>(slot: Slot | undefined, open: () => T | Promise<T>): Promise<T> {
  try {
    return heldBy(await open(), slot);
  } catch (e) {
    void slot?.release();
    throw e;
  }
}
