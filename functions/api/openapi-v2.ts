import { groupVersionPaths, openApiDocument } from './openapi';

/*
 * GET /openapi/v2: the Swagger 2.0 document, built from the same component schemas as the
 * OpenAPI v3 documents (functions/api/openapi.ts), definitions only (no paths: what kubectl
 * reads from v2 is the definitions). kubectl needs it where v3 does not serve: `kubectl edit`
 * of several objects validates the edited List on the client against v2 definitions, and
 * client-go asks for it as protobuf only (`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
 * gnostic's openapi.v2.Document; a 406 makes it try an older path, not JSON), so both forms
 * are served: protobuf when asked for, JSON otherwise.
 *
 * v3 → v2: `#/components/schemas/X` → `#/definitions/X`; a v3 `allOf: [{$ref}]` wrapper (which
 * only carries a description) → the `$ref` itself; int-or-string values → type string, format
 * int-or-string, as Kubernetes publishes them; x-kubernetes-* extensions kept.
 */

/** The media type of the answer (Go's mime parser refuses the '@' of the older spelling clients still ask with). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
const ACCEPTED = new Set([OPENAPI_V2_PROTOBUF, 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf']);

type Schema = Record<string, unknown>;
const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

function toV2(s: Schema): Schema {
  if (Array.isArray(s.allOf) && s.allOf.length === 1 && isObj(s.allOf[0]) && typeof s.allOf[0].$ref === 'string') {
    const { allOf: _a, default: _d, ...rest } = s;
    return { ...toV2(s.allOf[0]), ...(typeof rest.description === 'string' ? { description: rest.description } : {}) };
  }
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$ref' && typeof v === 'string') out.$ref = v.replace('#/components/schemas/', '#/definitions/');
    else if (k === 'properties' && isObj(v)) out.properties = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, isObj(ps) ? toV2(ps) : ps]));
    else if ((k === 'items' || k === 'additionalProperties') && isObj(v)) out[k] = toV2(v);
    else if (k === 'default' || k === 'nullable' || k === 'oneOf' || k === 'anyOf') continue;
    else out[k] = v;
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    out.type = 'string';
    out.format = 'int-or-string';
  }
  return out;
}

let cached: { json: Schema; proto: Buffer } | undefined;

/** The v2 document: every group version's components as definitions. */
export function openApiV2(): { json: Schema; proto: Buffer } {
  if (cached) return cached;
  const definitions: Record<string, Schema> = {};
  for (const gv of groupVersionPaths()) {
    const doc = openApiDocument(gv)!.doc as { components: { schemas: Record<string, Schema> } };
    for (const [name, s] of Object.entries(doc.components.schemas)) definitions[name] ??= toV2(s);
  }
  const json: Schema = { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths: {}, definitions };
  cached = { json, proto: encodeDocument(json) };
  return cached;
}

// --- gnostic openapi.v2 protobuf (field numbers of openapiv2/OpenAPIv2.proto) ---------------

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}
const bytesField = (num: number, b: Buffer) => Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
const strField = (num: number, s: string) => bytesField(num, Buffer.from(s, 'utf8'));
const boolField = (num: number, v: boolean) => Buffer.concat([varint(num << 3), varint(v ? 1 : 0)]);
const int64Field = (num: number, v: number) => Buffer.concat([varint(num << 3), varint(v)]);
function doubleField(num: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([varint((num << 3) | 1), b]);
}

/** Any { yaml = 2 } (JSON is YAML). */
const anyMsg = (v: unknown) => strField(2, JSON.stringify(v));
/** NamedAny { name = 1; value = 2 } */
const namedAny = (name: string, v: unknown) => Buffer.concat([strField(1, name), bytesField(2, anyMsg(v))]);

/** Schema, by openapi.v2.Schema's field numbers. */
function encodeSchema(s: Schema): Buffer {
  const parts: Buffer[] = [];
  if (typeof s.$ref === 'string') parts.push(strField(1, s.$ref));
  if (typeof s.format === 'string') parts.push(strField(2, s.format));
  if (typeof s.title === 'string') parts.push(strField(3, s.title));
  if (typeof s.description === 'string') parts.push(strField(4, s.description));
  if (typeof s.maximum === 'number') parts.push(doubleField(7, s.maximum));
  if (typeof s.minimum === 'number') parts.push(doubleField(9, s.minimum));
  if (typeof s.maxLength === 'number') parts.push(int64Field(11, s.maxLength));
  if (typeof s.pattern === 'string') parts.push(strField(13, s.pattern));
  if (s.uniqueItems === true) parts.push(boolField(16, true));
  if (Array.isArray(s.required)) for (const r of s.required) parts.push(strField(19, String(r)));
  if (Array.isArray(s.enum)) for (const e of s.enum) parts.push(bytesField(20, anyMsg(e)));
  if (isObj(s.additionalProperties)) parts.push(bytesField(21, bytesField(1, encodeSchema(s.additionalProperties))));
  else if (typeof s.additionalProperties === 'boolean') parts.push(bytesField(21, boolField(2, s.additionalProperties)));
  if (typeof s.type === 'string') parts.push(bytesField(22, strField(1, s.type)));
  if (isObj(s.items)) parts.push(bytesField(23, bytesField(1, encodeSchema(s.items))));
  if (isObj(s.properties))
    parts.push(bytesField(25, Buffer.concat(Object.entries(s.properties).map(([name, ps]) => bytesField(1, Buffer.concat([strField(1, name), bytesField(2, encodeSchema(isObj(ps) ? ps : {}))]))))));
  for (const [k, v] of Object.entries(s)) if (k.startsWith('x-')) parts.push(bytesField(31, namedAny(k, v)));
  return Buffer.concat(parts);
}

/** Document { swagger = 1; info = 2; definitions = 9 }. */
function encodeDocument(doc: Schema): Buffer {
  const info = doc.info as { title: string; version: string };
  const defs = Object.entries(doc.definitions as Record<string, Schema>).map(([name, s]) => bytesField(1, Buffer.concat([strField(1, name), bytesField(2, encodeSchema(s))])));
  return Buffer.concat([strField(1, String(doc.swagger)), bytesField(2, Buffer.concat([strField(1, info.title), strField(2, info.version)])), bytesField(9, Buffer.concat(defs))]);
}

/** Whether an Accept header asks for the protobuf form. */
export const wantsProtobufV2 = (accept: string | undefined) => (accept ?? '').split(',').some((t) => ACCEPTED.has(t.split(';')[0]!.trim()));
