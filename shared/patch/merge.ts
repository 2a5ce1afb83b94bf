/** Patching: JSON merge patch (RFC 7386) and Kubernetes' strategic merge patch. */

import { badRequest } from '../errors';
import { patchTableOfObject, type PatchTable } from './strategy';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386: objects merge recursively, null deletes, anything else (arrays too) replaces. */
export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

const DELETE_FROM = '$deleteFromPrimitiveList/';
const SET_ORDER = '$setElementOrder/';
const join = (path: string, field: string) => (path ? `${path}.${field}` : field);
const same = (a: unknown, b: unknown) => a === b || (typeof a === 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));
const show = (v: unknown) => JSON.stringify(v);

/**
 * Kubernetes' strategic merge patch (apimachinery's strategicpatch, as the API server applies
 * it), with the list strategies of `table` (by field path; by default the table of the target's
 * kind, shared/patch/strategy.ts):
 * - maps merge recursively, `null` deletes a key; `$patch: replace` replaces a map, `$patch:
 *   delete` empties it; `$retainKeys: [...]` clears the keys it does not list (and the patch may
 *   set no other key);
 * - lists with strategy merge and a merge key merge element-wise by that key (`{key, $patch:
 *   delete}` removes one, a `{$patch: replace}` element replaces the whole list); lists of
 *   primitives with strategy merge are unions, `$deleteFromPrimitiveList/<field>` removes values;
 *   every other list is atomic and replaced;
 * - order: patched elements in the patch's order with the server-only elements interleaved by
 *   their live position, or as `$setElementOrder/<field>` says (what kubectl apply sends).
 * Bad directives are 400 BadRequest with Kubernetes' words. Inputs are left untouched.
 */
export function strategicMergePatch(target: unknown, patch: unknown, table: PatchTable = patchTableOfObject(target)): unknown {
  if (!isObject(patch)) throw badRequest(`json: cannot unmarshal ${Array.isArray(patch) ? 'array' : typeof patch} into Go value of type map[string]interface {}`);
  return mergeMap(isObject(target) ? target : {}, patch, '', table);
}

function mergeMap(original: Record<string, unknown>, patchIn: Record<string, Json>, path: string, table: PatchTable): Record<string, unknown> {
  if ('$patch' in patchIn) {
    const { $patch: directive, ...rest } = patchIn;
    if (directive === 'replace') return mergeMap({}, rest, path, table);
    if (directive === 'delete') return {};
    throw badRequest(`unknown patch type: ${String(directive)} in map: ${show(patchIn)}`);
  }
  const out: Record<string, unknown> = { ...original };
  const patch: Record<string, Json> = { ...patchIn };
  if ('$retainKeys' in patch) applyRetainKeys(out, patch);
  for (const key of Object.keys(patch).filter((k) => k.startsWith(SET_ORDER))) applySetElementOrder(out, patch, key, path, table);
  for (const [rawKey, value] of Object.entries(patch)) {
    const deleteList = rawKey.startsWith(DELETE_FROM);
    const key = deleteList ? rawKey.slice(DELETE_FROM.length) : rawKey;
    if (deleteList && !Array.isArray(value)) throw badRequest('invalid patch format of primitive list');
    if (value === null) {
      delete out[key];
      continue;
    }
    const fieldPath = join(path, key);
    if (!(key in out) || out[key] === null) {
      if (!deleteList) out[key] = fresh(value, fieldPath, table);
      continue;
    }
    const current = out[key];
    if (deleteList) {
      if (Array.isArray(current)) out[key] = current.filter((x) => !(value as Json[]).some((d) => same(x, d)));
    } else if (isObject(current) && isObject(value)) {
      out[key] = table[fieldPath]?.strategy === 'replace' ? fresh(value, fieldPath, table) : mergeMap(current, value, fieldPath, table);
    } else if (Array.isArray(current) && Array.isArray(value)) {
      out[key] = mergeList(current, value, fieldPath, table);
    } else {
      out[key] = fresh(value, fieldPath, table);
    }
  }
  return out;
}

/** A patch value with nothing to merge into: directives are applied against an empty value. */
function fresh(value: Json, path: string, table: PatchTable): unknown {
  if (isObject(value)) return mergeMap({}, value, path, table);
  if (Array.isArray(value)) return mergeList([], value, path, table);
  return value;
}

/** `$retainKeys`: every key the patch sets must be listed; keys not listed are cleared. */
function applyRetainKeys(out: Record<string, unknown>, patch: Record<string, Json>): void {
  const list = patch.$retainKeys;
  delete patch.$retainKeys;
  if (!Array.isArray(list)) throw badRequest('invalid patch format of retainKeys');
  const retain = new Set(list.map((k) => String(k)));
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM) || k.startsWith(SET_ORDER)) continue;
    if (!retain.has(k)) throw badRequest('invalid patch format of retainKeys');
  }
  for (const k of Object.keys(out)) if (!retain.has(k)) delete out[k];
}

/** `$setElementOrder/<field>`: merges the field's list, then orders it as the directive says. */
function applySetElementOrder(out: Record<string, unknown>, patch: Record<string, Json>, key: string, path: string, table: PatchTable): void {
  const order = patch[key];
  delete patch[key];
  if (!Array.isArray(order)) throw badRequest('invalid patch format of setElementOrder list');
  const field = key.slice(SET_ORDER.length);
  const fieldPath = join(path, field);
  const mergeKey = table[fieldPath]?.mergeKey;
  const current = out[field];
  const patchList = patch[field];
  if (current !== undefined && current !== null && !Array.isArray(current)) throw badRequest(`invalid value of ${field}: must be a list`);
  if (patchList !== undefined && patchList !== null && !Array.isArray(patchList)) throw badRequest(`invalid value of ${field}: must be a list`);
  const original = (current ?? []) as unknown[];
  if (Array.isArray(patchList)) checkOrderList(patchList, order, mergeKey);
  let merged: unknown[];
  if (Array.isArray(patchList)) merged = current ? mergeList(original, patchList, fieldPath, table) : (fresh(patchList, fieldPath, table) as unknown[]);
  else if (Array.isArray(current)) merged = current;
  else return;
  delete patch[field];
  const id = identity(mergeKey);
  const wanted = new Set(order.map((o) => id(o)));
  out[field] = interleave(
    sortBy(merged.filter((x) => !wanted.has(id(x))), original, id),
    sortBy(merged.filter((x) => wanted.has(id(x))), order, id),
    original,
    id,
  );
}

/** The patch's elements must appear in `$setElementOrder` and in its relative order. */
function checkOrderList(patchList: Json[], order: Json[], mergeKey: string | undefined): void {
  const id = identity(mergeKey);
  const items = patchList.filter((p) => !(isObject(p) && '$patch' in p));
  let i = 0;
  for (const o of order) if (i < items.length && id(items[i]) === id(o)) i++;
  if (i < items.length) throw badRequest(`The order in patch list:\n${show(patchList)}\n doesn't match $setElementOrder list:\n${show(order)}\n`);
}

/** How elements are told apart: by merge key for lists of objects, by value otherwise. */
function identity(mergeKey: string | undefined): (x: unknown) => string {
  return (x) => show(mergeKey && isObject(x) ? x[mergeKey] : x);
}

/** Stable sort by position in `order`; elements it does not name keep their place after. */
function sortBy(list: unknown[], order: unknown[], id: (x: unknown) => string): unknown[] {
  const rank = new Map<string, number>();
  order.forEach((o, i) => {
    if (!rank.has(id(o))) rank.set(id(o), i);
  });
  const named = list.filter((x) => rank.has(id(x))).sort((a, b) => rank.get(id(a))! - rank.get(id(b))!);
  return [...named, ...list.filter((x) => !rank.has(id(x)))];
}

/**
 * Kubernetes' mergeSortedSlice: the server-only elements (left) are inserted among the patch's
 * (right); a server-only element goes first only when both are in the live list and it came
 * first there.
 */
function interleave(serverOnly: unknown[], patched: unknown[], live: unknown[], id: (x: unknown) => string): unknown[] {
  const pos = new Map<string, number>();
  live.forEach((x, i) => {
    if (!pos.has(id(x))) pos.set(id(x), i);
  });
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < patched.length) {
    if (j >= patched.length) out.push(serverOnly[i++]);
    else if (i >= serverOnly.length) out.push(patched[j++]);
    else {
      const l = pos.get(id(serverOnly[i]));
      const r = pos.get(id(patched[j]));
      if (l !== undefined && r !== undefined && l < r) out.push(serverOnly[i++]);
      else out.push(patched[j++]);
    }
  }
  return out;
}

/** A list field: merged as the table says for its path, else replaced (atomic). */
function mergeList(current: unknown[], patch: Json[], path: string, table: PatchTable): unknown[] {
  const meta = table[path];
  if (!meta || !meta.strategy.split(',').includes('merge')) return patch.map((p) => (isObject(p) ? mergeMap({}, p, path, table) : p));
  if (current.length === 0 && patch.length === 0) return [];
  const objects = [...current, ...patch].filter(isObject).length;
  if (objects !== 0 && objects !== current.length + patch.length) throw badRequest(`list element types are not identical: ${show([current, patch])}`);
  if (objects === 0) {
    // A set of primitives: union, patched values in the patch's order.
    const merged: unknown[] = [];
    for (const x of [...current, ...patch]) if (!merged.some((m) => same(m, x))) merged.push(x);
    const id = identity(undefined);
    const inPatch = new Set(patch.map(id));
    return interleave(sortBy(merged.filter((x) => !inPatch.has(id(x))), current, id), sortBy(merged.filter((x) => inPatch.has(id(x))), patch, id), current, id);
  }
  const key = meta.mergeKey;
  if (!key) throw badRequest(`cannot merge lists without merge key for ${path}`);
  let original = current as Record<string, unknown>[];
  const items: Record<string, Json>[] = [];
  let replace = false;
  for (const p of patch as Record<string, Json>[]) {
    if (!('$patch' in p)) {
      items.push(p);
      continue;
    }
    if (p.$patch === 'delete') {
      if (!(key in p)) throw badRequest(`map: ${show(p)} does not contain declared merge key: ${key}`);
      original = original.filter((o) => !same(o[key], p[key]));
    } else if (p.$patch === 'replace') replace = true;
    else if (p.$patch === 'merge') throw badRequest('merging lists cannot yet be specified in the patch');
    else throw badRequest(`unknown patch type: ${String(p.$patch)} in map: ${show(p)}`);
  }
  if (replace) return items.map((p) => mergeMap({}, p, path, table));
  const merged: Record<string, unknown>[] = [...original];
  for (const p of items) {
    if (!(key in p)) throw badRequest(`map: ${show(p)} does not contain declared merge key: ${key}`);
    const idx = merged.findIndex((o) => same(o[key], p[key]));
    if (idx >= 0) merged[idx] = mergeMap(merged[idx]!, p, path, table);
    else merged.push(mergeMap({}, p, path, table));
  }
  const id = identity(key);
  const inPatch = new Set(items.map(id));
  return interleave(sortBy(merged.filter((x) => !inPatch.has(id(x))), original, id), sortBy(merged.filter((x) => inPatch.has(id(x))), items, id), original, id);
}
