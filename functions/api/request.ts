import yaml from 'js-yaml';
import { requestEntityTooLarge, unsupportedBodyType, unsupportedPatchType } from '../../shared/errors';
import type { ResourceType } from '../../shared/resources';
import { prettyPrint } from '../../shared/query';
import { checkExpandedSize, checkJsonDepth, DecodeError, goJsonError, kindMismatch, requireObjectBody, unrecognizedObject, yamlBudget } from '../../shared/limits';
import { decodeProtobuf, PROTOBUF_MEDIA_TYPE } from './protobuf';

/** A request as the api logic sees it, independent of the Lambda event shape. */
import type { AuditContext } from '../../shared/audit';

export interface ApiRequest {
  readonly method: string;
  /** Path without the `/clusters/{cluster}` prefix. */
  readonly path: string;
  /** The cluster named in the path, when the path had the prefix. */
  readonly cluster?: string;
  readonly query: URLSearchParams;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: Buffer;
  /** The invocation's request id (the Function URL event's), forwarded to node agents as `x-request-id` so their log lines join this request's. */
  readonly requestId?: string;
  /** The client's address as the Function URL saw it (requestContext.http.sourceIp): the key of its source budgets (source-limit.ts). */
  readonly sourceIp?: string;
  /** What the audit event of this request records, filled as the pipeline learns it (shared/audit.ts). */
  readonly audit?: AuditContext;
}

export interface ApiResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Kubernetes' default limit on request bodies (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** A JSON response; the body ends with a newline, as Kubernetes' JSON encoder (json.Encoder) writes it. */
export const json = (statusCode: number, value: unknown, headers: Record<string, string> = {}): ApiResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: `${JSON.stringify(value)}\n`,
});

/**
 * A JSON body as the client asked for it: indented by two spaces and without the final newline
 * when pretty-printed (`?pretty=true`, or curl/Wget/a browser; isPrettyPrint and MarshalIndent
 * in Kubernetes), unchanged otherwise. Other bodies pass as they are.
 */
export function forClient<T extends { readonly headers: Record<string, string>; readonly body: unknown }>(res: T, req: Pick<ApiRequest, 'query' | 'headers'>): T {
  const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (typeof res.body !== 'string' || !(type === 'application/json' || type.endsWith('+json'))) return res;
  if (!prettyPrint(req.query, req.headers['user-agent'])) return res;
  try {
    return { ...res, body: JSON.stringify(JSON.parse(res.body), null, 2) };
  } catch {
    return res;
  }
}

export function mediaType(req: ApiRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Decodes a JSON, YAML or (whole objects) Kubernetes protobuf body into a value; 413 too large,
 * 415 unknown types, and 400 (a DecodeError, in Go's decoders' words) for malformed bodies, JSON
 * nested deeper than MAX_JSON_DEPTH and YAML whose aliases would expand it past its budget.
 */
export function decodeBody(req: ApiRequest, accepted: readonly string[] = ['application/json', 'application/yaml', '']): unknown {
  const body = req.body ?? Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) throw requestEntityTooLarge(MAX_BODY_BYTES);
  const type = mediaType(req);
  // Typed clients (kubectl create namespace...) send whole objects as protobuf; patches never are.
  if (type === PROTOBUF_MEDIA_TYPE && accepted.includes('application/json')) return decodeProtobuf(body);
  if (!accepted.includes(type)) throw accepted.includes('application/json') ? unsupportedBodyType() : unsupportedPatchType();
  const text = body.toString('utf8');
  if (type === 'application/yaml' || type === 'application/apply-patch+yaml') {
    let value: unknown;
    try {
      value = yaml.load(text, { schema: yaml.JSON_SCHEMA });
    } catch (e) {
      throw new DecodeError(`yaml: ${(e as Error).message.split('\n')[0]}`, 'yaml');
    }
    // js-yaml shares an alias's value; serialising it would expand every use (billion laughs).
    checkExpandedSize(value, yamlBudget(text.length));
    if (value === undefined || value === null) throw new DecodeError('unexpected end of JSON input', 'json');
    return value;
  }
  checkJsonDepth(text);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DecodeError(goJsonError(text, e as Error), 'json');
  }
}

/**
 * Decodes the body of a create or update of `rt`: decode errors in kube-apiserver's words
 * (`the object provided is unrecognized (must be of type Pod): ...`), and a body that is not an
 * object, or of another kind, refused as Kubernetes refuses it.
 */
export function decodeObjectBody(req: ApiRequest, rt: ResourceType): Record<string, unknown> {
  const body = req.body ?? Buffer.alloc(0);
  let raw: unknown;
  try {
    raw = decodeBody(req);
  } catch (e) {
    if (e instanceof DecodeError) throw unrecognizedObject(rt, e, body);
    throw e;
  }
  requireObjectBody(rt, raw, body);
  const mismatch = kindMismatch(rt, raw);
  if (mismatch) throw mismatch;
  return raw;
}
