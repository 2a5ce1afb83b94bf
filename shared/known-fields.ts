/**
 * Unknown fields at any depth, as Kubernetes' strict decoding finds them: an object is walked
 * against the fields its kind has in Kubernetes' schema (shared/schemas/known-fields.ts,
 * generated from @kubernetes/client-node's models), including the parts our zod schemas keep
 * opaque. Paths are written as Kubernetes writes them: `spec.containers[0].bogusField`.
 */
import { KNOWN_FIELDS } from './schemas/known-fields';

/** A field Kubernetes does not know, with where it is (for removal under fieldValidation=Warn/Ignore). */
export interface UnknownField {
  /** `spec.containers[0].bogusField`. */
  readonly path: string;
  readonly parent: Record<string, unknown>;
  readonly key: string;
}

/**
 * The unknown fields of `obj` if `apiVersion/kind` is a kind the table has; an empty list
 * otherwise. Iterative (no recursion), in document order.
 */
export function unknownFields(apiVersion: string, kind: string, obj: unknown): UnknownField[] {
  const root = KNOWN_FIELDS.kinds[`${apiVersion}/${kind}`];
  if (!root) return [];
  const out: UnknownField[] = [];
  // One work item per field, popped in document order (an object's fields pushed in reverse).
  type Item = { parent: Record<string, unknown>; key: string; type: string; path: string };
  const stack: Item[] = [];
  const pushFields = (value: unknown, type: string, path: string) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !KNOWN_FIELDS.types[type]) return;
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    for (let i = keys.length - 1; i >= 0; i--) stack.push({ parent: record, key: keys[i]!, type, path: path ? `${path}.${keys[i]}` : keys[i]! });
  };
  const pushValue = (value: unknown, ref: string, path: string) => {
    if (ref.startsWith('[]')) {
      if (!Array.isArray(value)) return;
      for (let i = value.length - 1; i >= 0; i--) pushFields(value[i], ref.slice(2), `${path}[${i}]`);
    } else if (ref.startsWith('{}')) {
      if (value === null || typeof value !== 'object') return;
      const entries = Object.entries(value as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) pushFields(entries[i]![1], ref.slice(2), `${path}[${entries[i]![0]}]`);
    } else pushFields(value, ref, path);
  };
  pushFields(obj, root, '');
  while (stack.length > 0) {
    const { parent, key, type, path } = stack.pop()!;
    const ref = KNOWN_FIELDS.types[type]![key];
    if (ref === undefined) out.push({ path, parent, key });
    else if (ref !== '') pushValue(parent[key], ref, path);
  }
  return out;
}
