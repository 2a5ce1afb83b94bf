/** Patching: JSON merge patch (RFC 7386) and Kubernetes' strategic merge patch. */

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

/**
 * Merge keys of Kubernetes' built-in types (patchMergeKey with patchStrategy merge), by field
 * name; lists not named here are replaced, as Kubernetes does for atomic lists.
 */
export const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  ports: 'containerPort',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  ownerReferences: 'uid',
  hostAliases: 'ip',
  conditions: 'type',
  taints: 'key',
  addresses: 'type',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
};

/** Lists whose strategy is merge without a key: union of primitive values. */
const PRIMITIVE_MERGE_LISTS = new Set(['finalizers']);

/**
 * Strategic merge patch as Kubernetes applies it to built-in types: maps merge, `null`
 * deletes, lists with a merge key merge element-wise by that key, `$patch: delete|replace`
 * directives, `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` (the order of the
 * merged list, as kubectl apply sends it) and `$retainKeys` (keys not listed are cleared).
 */
export function strategicMergePatch(target: unknown, patch: unknown, field = ''): unknown {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return rest;
  }
  if (patch.$patch === 'delete') return undefined;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k.startsWith('$setElementOrder/') || k === '$retainKeys') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const name = k.slice('$deleteFromPrimitiveList/'.length);
      const drop = new Set((Array.isArray(v) ? v : []).map((x) => JSON.stringify(x)));
      if (Array.isArray(out[name])) out[name] = (out[name] as unknown[]).filter((x) => !drop.has(JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const mergeKey = MERGE_KEYS[k];
    if (Array.isArray(v) && mergeKey && Array.isArray(out[k])) {
      out[k] = mergeList(out[k] as unknown[], v, mergeKey, k);
    } else if (Array.isArray(v) && PRIMITIVE_MERGE_LISTS.has(k) && Array.isArray(out[k])) {
      const seen = new Set((out[k] as unknown[]).map((x) => JSON.stringify(x)));
      out[k] = [...(out[k] as unknown[]), ...v.filter((x) => !seen.has(JSON.stringify(x)))];
    } else if (Array.isArray(v)) {
      out[k] = v.filter((x) => !(isObject(x) && x.$patch === 'delete'));
    } else {
      const merged = strategicMergePatch(out[k], v, k);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
  }
  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(v)) continue;
    const name = k.slice('$setElementOrder/'.length);
    if (Array.isArray(out[name])) out[name] = setElementOrder(out[name] as unknown[], v, MERGE_KEYS[name]);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const retain = new Set(patch.$retainKeys.map(String));
    for (const k of Object.keys(out)) if (!retain.has(k)) delete out[k];
  }
  void field;
  return out;
}

/**
 * Orders a merged list as `$setElementOrder` says: the listed elements (by merge key, or by
 * value for primitive lists) in that order, then those only the server had, in their order.
 */
function setElementOrder(list: unknown[], order: Json[], key: string | undefined): unknown[] {
  const id = (x: unknown) => JSON.stringify(key && isObject(x) ? x[key] : x);
  const rank = new Map(order.map((o, i) => [JSON.stringify(key && isObject(o) ? o[key] : o), i]));
  const listed = list.filter((x) => rank.has(id(x))).sort((a, b) => rank.get(id(a))! - rank.get(id(b))!);
  return [...listed, ...list.filter((x) => !rank.has(id(x)))];
}

function mergeList(current: unknown[], patch: Json[], key: string, field: string): unknown[] {
  if (patch.some((p) => isObject(p) && p.$patch === 'replace' && Object.keys(p).length === 1))
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace'));
  const out = [...current];
  for (const p of patch) {
    if (!isObject(p) || !(key in p)) {
      out.push(p);
      continue;
    }
    const idx = out.findIndex((c) => isObject(c) && JSON.stringify(c[key]) === JSON.stringify(p[key]));
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], p, field);
    else out.push(strategicMergePatch({}, p, field));
  }
  return out;
}
