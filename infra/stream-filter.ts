/**
 * Lambda event filtering for the stream rows of the wiring table: the patterns, and the matcher
 * the local runtime uses to honour them exactly as Lambda's event source mapping does.
 *
 * A row's `filters` are Lambda FilterCriteria patterns (plain JSON, one object per
 * `Filters[].Pattern`). On AWS the CDK construct puts them on the event source mapping; locally
 * infra/local/runtime.ts drops the records none of them matches before batching, as Lambda does
 * ("if you're using batching windows, Lambda applies your filter criteria to each new event to
 * determine whether to add it to the current batch"). A record filtered out is never invoked
 * and counts as processed (the checkpoint moves past it).
 *
 * Semantics (Lambda / EventBridge filter rules, the subset implemented here):
 * - Patterns are ORed: a record is delivered when at least one pattern matches.
 * - Within a pattern, every field is ANDed. An object value descends into the record's field of
 *   that name; an array value is a leaf rule that matches when the record's value there matches
 *   any of its elements (OR).
 * - Leaf elements: a string, number, boolean or null matches that exact value (strings are
 *   case-sensitive; DynamoDB numbers arrive as strings in `{"N": "..."}`, so only S and BOOL
 *   values are compared here); `{"prefix": "p"}` matches a string starting with p;
 *   `{"exists": true}` matches when the leaf field is present, `{"exists": false}` when it is
 *   absent. Exists only works on leaf nodes: a field whose value is an object is not a leaf.
 * - A field absent from the record matches nothing but `{"exists": false}`.
 * Anything else (anything-but, numeric, suffix, equals-ignore-case, $or, ...) is rejected by
 * `assertSupported`, so a wiring row can never use a rule the local runtime would ignore.
 *
 * What the patterns look at: the stream records of the objects table, in the event source
 * mapping's JSON form (`eventName`, `dynamodb.NewImage` / `OldImage` as AttributeValue JSON).
 * The store writes two small attributes on every object item for them (shared/store/store.ts
 * `streamAttributes`): `res`, the resource as a GroupResource string (`pods`, `nodes`,
 * `deployments.apps`, ...), and `gc`, true when the object has a controller owner reference or is
 * being deleted with finalizers. Keys alone cannot say the resource by a prefix rule (pk is
 * `${tenant}#${groupResource}`, tenant first: shared/store/keys.ts).
 */

/** One Lambda filter pattern, as plain JSON (CDK: `FilterCriteria.filter(pattern)`). */
export type FilterPattern = { readonly [field: string]: FilterPattern | readonly LeafRule[] };

/** One element of a leaf rule's array. */
export type LeafRule = string | number | boolean | null | { readonly prefix: string } | { readonly exists: boolean };

/** Throws when `patterns` use a rule outside the subset described above (or are not JSON patterns). */
export function assertSupported(patterns: readonly FilterPattern[]): void {
  if (patterns.length > 5) throw new Error(`at most 5 filter patterns per event source mapping (Lambda's default quota), got ${patterns.length}`);
  const check = (p: unknown, path: string): void => {
    if (Array.isArray(p)) {
      if (p.length === 0) throw new Error(`${path}: an empty rule list matches nothing`);
      for (const r of p as unknown[]) {
        if (r === null || ['string', 'number', 'boolean'].includes(typeof r)) continue;
        if (typeof r === 'object' && Object.keys(r).length === 1) {
          const [k, v] = Object.entries(r as Record<string, unknown>)[0]!;
          if (k === 'prefix' && typeof v === 'string') continue;
          if (k === 'exists' && typeof v === 'boolean') continue;
        }
        throw new Error(`${path}: unsupported filter rule ${JSON.stringify(r)}`);
      }
      return;
    }
    if (p === null || typeof p !== 'object') throw new Error(`${path}: a pattern field must be an object or a rule list`);
    const entries = Object.entries(p);
    if (entries.length === 0) throw new Error(`${path}: empty pattern object`);
    for (const [k, v] of entries) {
      if (k.startsWith('$')) throw new Error(`${path}.${k}: unsupported operator`);
      check(v, `${path}.${k}`);
    }
  };
  patterns.forEach((p, i) => check(p, `filters[${i}]`));
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function leafMatches(value: unknown, rule: LeafRule): boolean {
  if (rule !== null && typeof rule === 'object') {
    if ('exists' in rule) {
      const present = value !== undefined && !isPlainObject(value);
      return rule.exists ? present : value === undefined;
    }
    return typeof value === 'string' && value.startsWith(rule.prefix);
  }
  if (value === undefined || isPlainObject(value)) return false;
  // A record's array value matches when any of its elements does.
  if (Array.isArray(value)) return value.some((v) => v === rule);
  return value === rule;
}

function patternMatches(value: unknown, pattern: FilterPattern | readonly LeafRule[]): boolean {
  if (Array.isArray(pattern)) return (pattern as readonly LeafRule[]).some((rule) => leafMatches(value, rule));
  const obj = isPlainObject(value) ? value : undefined;
  return Object.entries(pattern as FilterPattern).every(([field, sub]) => patternMatches(obj?.[field], sub));
}

/**
 * Whether Lambda would deliver `record` (the event source mapping's JSON form of a stream
 * record) under `patterns`. No patterns: every record.
 */
export function recordMatches(record: unknown, patterns: readonly FilterPattern[] | undefined): boolean {
  if (!patterns || patterns.length === 0) return true;
  return patterns.some((p) => patternMatches(record, p));
}
