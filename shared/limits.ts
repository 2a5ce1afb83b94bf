/**
 * The limits on what a request may carry, and the checks that turn hostile input into a 4xx
 * Kubernetes Status before it reaches code that would overflow its stack, expand a YAML alias
 * bomb, or hand DynamoDB a key it refuses. Every limit is written in docs/compatibility.md
 * ("Limits"); each check has its request in test/unit/bad-input.test.ts or
 * test/e2e/bad-input.test.ts.
 */
import { z } from 'zod';
import { badRequest, notFound, StatusError, type StatusCause } from './errors';
import { unknownFields } from './known-fields';
import { apiVersionOf, resourceTypes, type KubeObject, type ResourceType } from './resources';

/**
 * Deepest nesting of arrays and objects a body may have. Kubernetes' decoder (Go's
 * encoding/json) stops at 10000; V8 serialises an object with JSON.stringify only to a few
 * thousand levels, and every object is serialised to be stored, so ours is lower.
 */
export const MAX_JSON_DEPTH = 1000;

/** Kubernetes' limit on the total size of metadata.annotations (keys and values). */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/**
 * How much a YAML document may grow through its aliases: the value it stands for may be at most
 * this many times its text (plus a little), counted in nodes and string bytes. Without aliases a
 * document's value is never larger than its text, so only alias expansion can pass it.
 */
export const YAML_EXPANSION_FACTOR = 2;

/** Longest name any object can have (a DNS-1123 subdomain), and any namespace (a DNS-1123 label). */
export const MAX_NAME_LENGTH = 253;
export const MAX_NAMESPACE_LENGTH = 63;

/** An error of a body's decoding, in the words of Go's decoders (before the kind is known). */
export class DecodeError extends StatusError {
  constructor(
    /** What Go's decoder would say, e.g. `invalid character 'a' looking for beginning of value`. */
    readonly base: string,
    /** `yaml` errors are not JSON parse errors: they are not prefixed by "couldn't get version/kind". */
    readonly format: 'json' | 'yaml',
  ) {
    super(400, 'BadRequest', `the body of the request could not be decoded: ${base}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Bodies

/**
 * Checks the nesting of JSON text without parsing it (a linear scan that skips strings), so a
 * body of 100 000 `[` never reaches code that recurses.
 */
export function checkJsonDepth(text: string, limit = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) throw new DecodeError(`invalid character '${text[i]}' exceeded max depth (${limit} levels)`, 'json');
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/**
 * Walks a decoded value without recursion, counting what serialising it would produce (nodes,
 * string bytes; an alias counts again each time it is used) and its depth. Throws past `budget`
 * (excessive aliasing, as sigs.k8s.io/yaml's decoder refuses it) or past the depth limit.
 */
export function checkExpandedSize(value: unknown, budget: number, depthLimit = MAX_JSON_DEPTH): void {
  let size = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    size += typeof v === 'string' ? v.length + 2 : 1;
    if (size > budget) throw new DecodeError('yaml: document contains excessive aliasing', 'yaml');
    if (v === null || typeof v !== 'object') continue;
    if (depth > depthLimit) throw new DecodeError(`exceeded max depth (${depthLimit} levels)`, 'yaml');
    if (Array.isArray(v)) for (const item of v) stack.push([item, depth + 1]);
    else
      for (const [k, item] of Object.entries(v)) {
        size += k.length + 2;
        stack.push([item, depth + 1]);
      }
  }
}

/** The YAML budget for a document of this many characters. */
export const yamlBudget = (textLength: number) => YAML_EXPANSION_FACTOR * textLength + 4096;

/**
 * Go's json error for text V8 refused, as far as it can be told from V8's message: the common
 * cases (an empty body, a first character that starts no value, a truncated document) in Go's
 * words, the rest in V8's.
 */
export function goJsonError(text: string, v8: Error): string {
  const first = text.trimStart()[0];
  if (first === undefined) return 'unexpected end of JSON input';
  if (!/[{["\-0-9tfn]/.test(first)) return `invalid character '${first}' looking for beginning of value`;
  if (/Unexpected end of JSON input|Unterminated/.test(v8.message)) return 'unexpected end of JSON input';
  return v8.message.split('\n')[0]!;
}

/** Kubernetes' summary of a body in decode errors (summarizeData): text if it starts with `{`, else hex. */
export function summarizeData(body: Buffer, max = 30): string {
  if (body.length === 0) return '<empty>';
  const head = body.subarray(0, max);
  const text = body[0] === 0x7b ? head.toString('utf8') : head.toString('hex');
  return body.length > max ? `${text} ...` : text;
}

/** The Go package of a group's internal types, as Kubernetes prints them in conversion errors. */
function internalPackage(group: string): string {
  if (group === '') return 'core';
  return group.split('.')[0]!;
}

/**
 * A decode error of a body meant to be a `rt`, worded as kube-apiserver's transformDecodeError:
 * `the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse
 * error: ... (7b22...)` when the kind could not be read.
 */
export function unrecognizedObject(rt: ResourceType, e: DecodeError, body: Buffer): StatusError {
  const cause = e.format === 'json' ? `couldn't get version/kind; json parse error: ${e.base}` : e.base;
  return badRequest(`the object provided is unrecognized (must be of type ${rt.kind}): ${cause} (${summarizeData(body)})`);
}

/**
 * A body whose apiVersion/kind is not the resource's, worded as Kubernetes answers it: a kind the
 * group version does not have is not registered; another kind cannot be converted.
 */
export function kindMismatch(rt: ResourceType, raw: Record<string, unknown>): StatusError | undefined {
  const kind = typeof raw.kind === 'string' && raw.kind !== '' ? raw.kind : rt.kind;
  const apiVersion = typeof raw.apiVersion === 'string' && raw.apiVersion !== '' ? raw.apiVersion : apiVersionOf(rt);
  if ((raw.kind !== undefined && typeof raw.kind !== 'string') || (raw.apiVersion !== undefined && typeof raw.apiVersion !== 'string')) {
    const field = typeof raw.kind !== 'string' && raw.kind !== undefined ? 'kind' : 'apiVersion';
    return badRequest(
      `the object provided is unrecognized (must be of type ${rt.kind}): couldn't get version/kind; json parse error: json: cannot unmarshal ${goType(raw[field])} into Go struct field .${field} of type string (${summarizeData(Buffer.from(JSON.stringify(raw)))})`,
    );
  }
  if (kind === rt.kind && apiVersion === apiVersionOf(rt)) return undefined;
  const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
  const cannot = `${kind} in version "${version}" cannot be handled as a ${rt.kind}`;
  const known = resourceTypes.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
  if (!known) return badRequest(`${cannot}: no kind "${kind}" is registered for version "${apiVersion}" in scheme "pkg/api/legacyscheme/scheme.go:30"`);
  return badRequest(`${cannot}: converting (${version}.${kind}) to (${internalPackage(rt.group)}.${rt.kind}): unknown conversion`);
}

function goType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  return typeof v === 'boolean' ? 'bool' : typeof v;
}

/** The body must be a JSON object for a kind; Go's decoder says so in its words otherwise. */
export function requireObjectBody(rt: ResourceType, raw: unknown, body: Buffer): asserts raw is Record<string, unknown> {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) return;
  throw badRequest(
    `the object provided is unrecognized (must be of type ${rt.kind}): couldn't get version/kind; json parse error: json: cannot unmarshal ${goType(raw)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" } (${summarizeData(body)})`,
  );
}

// ---------------------------------------------------------------------------------------------
// Paths and names

/** A path segment, percent-decoded; malformed escapes (`%ZZ`) are 400, as Go's URL parser refuses them. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    const bad = /%(?![0-9a-fA-F]{2})[^%]{0,2}/.exec(segment)?.[0] ?? segment;
    throw badRequest(`invalid URL escape "${bad}"`);
  }
}

/** Kubernetes' path.IsValidPathSegmentName: the problems of a name used as a URL segment. */
export function pathSegmentProblems(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  return ['/', '%'].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
}

interface NamedTarget {
  readonly rt: ResourceType;
  readonly namespace?: string;
  readonly name?: string;
}

/**
 * Checks the name and namespace of a request's path before the store sees them: a name that is
 * not a valid path segment is 400 (`Name parameter invalid`, as NamespaceKeyFunc says); a name or
 * namespace longer than any object's cannot exist, so reading, updating or deleting it is 404 and
 * creating in such a namespace is 404 for the namespace. A list or watch in a namespace that
 * cannot exist is served (empty, as Kubernetes serves it) from IMPOSSIBLE_NAMESPACE instead,
 * which no object can be in either and whose key DynamoDB takes.
 */
export function checkPathNames<T extends NamedTarget>(t: T, verb: string): T {
  if (t.name !== undefined) {
    const problems = pathSegmentProblems(t.name);
    if (problems.length) throw badRequest(`Name parameter invalid: ${JSON.stringify(t.name)}: ${problems.join(';')}`);
  }
  const impossibleNamespace = t.namespace !== undefined && Buffer.byteLength(t.namespace) > MAX_NAMESPACE_LENGTH;
  if (t.name !== undefined && (Buffer.byteLength(t.name) > MAX_NAME_LENGTH || impossibleNamespace)) throw notFound(t.rt.resource, t.name, t.rt.group);
  if (!impossibleNamespace) return t;
  if (verb === 'create') throw notFound('namespaces', t.namespace!);
  return { ...t, namespace: IMPOSSIBLE_NAMESPACE };
}

/** Not a DNS-1123 label, so no namespace has this name, and short enough for any store key. */
export const IMPOSSIBLE_NAMESPACE = '-';

// ---------------------------------------------------------------------------------------------
// Metadata

/** Kubernetes' ValidateAnnotations size rule: keys and values together at most 256 KiB. */
export function annotationsProblems(obj: KubeObject): StatusCause[] {
  let total = 0;
  for (const [k, v] of Object.entries(obj.metadata.annotations ?? {})) total += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  if (total <= MAX_ANNOTATIONS_BYTES) return [];
  return [{ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_ANNOTATIONS_BYTES} bytes`, field: 'metadata.annotations' }];
}

/**
 * The paths of the fields of `input` Kubernetes' schema does not have, at any depth (also inside
 * what our zod schemas keep opaque). Unless `mode` is Strict (which refuses them), they are
 * removed from `input`, as Kubernetes drops them under Warn and Ignore.
 */
export function dropUnknownFields(rt: ResourceType, input: Record<string, unknown>, mode: 'Strict' | 'Warn' | 'Ignore'): string[] {
  const found = unknownFields(apiVersionOf(rt), rt.kind, input);
  if (mode !== 'Strict') for (const f of found) delete f.parent[f.key];
  return found.map((f) => f.path);
}

/** The depth of a value to be stored (a patch can deepen an object); 400 past the limit. */
export function checkObjectDepth(obj: unknown): void {
  checkExpandedSize(obj, Number.POSITIVE_INFINITY);
}

// ---------------------------------------------------------------------------------------------
// DeleteOptions and continue tokens

const DeleteOptionsSchema = z.object({
  kind: z.string().optional(),
  apiVersion: z.string().optional(),
  gracePeriodSeconds: z.number().int().optional(),
  preconditions: z.object({ uid: z.string().optional(), resourceVersion: z.string().optional() }).optional(),
  orphanDependents: z.boolean().optional(),
  propagationPolicy: z.string().optional(),
  dryRun: z.array(z.string()).optional(),
});

export type DeleteOptionsBody = Omit<z.infer<typeof DeleteOptionsSchema>, 'kind' | 'apiVersion'>;

/**
 * A DELETE body as Kubernetes decodes it into DeleteOptions: another kind (a Pod sent by mistake)
 * is refused and the object kept; fields of the wrong type are refused; unknown fields are ignored.
 */
export function parseDeleteOptions(raw: unknown): DeleteOptionsBody {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw badRequest(`json: cannot unmarshal ${goType(raw)} into Go value of type v1.DeleteOptions`);
  const o = raw as Record<string, unknown>;
  if (o.kind !== undefined && o.kind !== 'DeleteOptions') {
    const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : 'meta.k8s.io/v1';
    throw badRequest(`no kind ${JSON.stringify(String(o.kind))} is registered for version ${JSON.stringify(apiVersion)} in scheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme/register.go:28"`);
  }
  if (o.apiVersion !== undefined && !['v1', 'meta.k8s.io/v1', 'meta.k8s.io/v1beta1'].includes(String(o.apiVersion)))
    throw badRequest(`no kind "DeleteOptions" is registered for version ${JSON.stringify(String(o.apiVersion))} in scheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme/register.go:28"`);
  const parsed = DeleteOptionsSchema.safeParse(o);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw badRequest(`json: cannot unmarshal into Go struct field DeleteOptions.${i.path.join('.')}: ${i.message}`);
  }
  const { kind: _kind, apiVersion: _apiVersion, ...opts } = parsed.data;
  return opts;
}

/** Largest `after` key a continue token may carry (a DynamoDB sort key is at most 1 KiB). */
const MAX_CONTINUE_KEY_BYTES = 1024;

/** Whether a decoded continue token is one this server could have made. */
export function validContinueToken(token: { rv: unknown; after: unknown }): boolean {
  return (
    typeof token.rv === 'number' &&
    Number.isSafeInteger(token.rv) &&
    token.rv >= 0 &&
    typeof token.after === 'string' &&
    token.after.length > 0 &&
    Buffer.byteLength(token.after) <= MAX_CONTINUE_KEY_BYTES
  );
}
