import jsonpatch, { type Operation } from 'fast-json-patch';
import { badRequest, StatusError, unsupportedMediaType } from '../errors';
import { jsonMergePatch, strategicMergePatch } from '../patch/merge';
import type { PatchTable } from '../patch/strategy';

/** The patch media types served (server-side apply is not). */
export const PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json'] as const;
export type PatchType = (typeof PATCH_TYPES)[number];

export const isPatchType = (t: string): t is PatchType => (PATCH_TYPES as readonly string[]).includes(t);

/**
 * Applies a patch of `type` to `current` (never mutated); 422 for a JSON patch that does not
 * apply. A strategic merge patch merges lists as `table` says (the kind's strategy: patchTableOf).
 */
export function applyPatch(type: string, current: object, patch: unknown, table?: PatchTable): unknown {
  switch (type) {
    case 'application/merge-patch+json':
      return jsonMergePatch(current, patch);
    case 'application/strategic-merge-patch+json':
      return strategicMergePatch(current, patch, table);
    case 'application/json-patch+json': {
      if (!Array.isArray(patch)) throw badRequest('json patch must be an array of operations');
      try {
        return jsonpatch.applyPatch(structuredClone(current), patch as Operation[], true, false).newDocument;
      } catch (e) {
        throw new StatusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    default:
      throw unsupportedMediaType(type);
  }
}
