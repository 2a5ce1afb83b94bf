/**
 * resource.Quantity for the agent: the shared parser (shared/schemas/quantity.ts), with the
 * agent's two needs on top — throw on a malformed value, or treat it as absent.
 */
import { parseQuantity as parseShared } from '../shared/schemas/quantity';
import type { Quantity } from './types';

/** Parses a quantity to base units (cores, bytes); throws on a malformed one. */
export function parseQuantity(q: Quantity): number {
  const v = parseShared(q);
  if (v === undefined) throw new Error(`invalid quantity "${q}"`);
  return v;
}

/** Parses, or undefined when absent or malformed (a limit we cannot read is not applied). */
export function tryParseQuantity(q: Quantity | undefined): number | undefined {
  return q === undefined ? undefined : parseShared(q);
}
