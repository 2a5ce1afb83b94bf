import yaml from 'js-yaml';
import { badRequest, requestEntityTooLarge, unsupportedMediaType } from '../../shared/errors';
import { decodeProtobuf, PROTOBUF_MEDIA_TYPE } from './protobuf';

/** A request as the api logic sees it, independent of the Lambda event shape. */
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
}

export interface ApiResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Kubernetes' default limit on request bodies (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export const json = (statusCode: number, value: unknown, headers: Record<string, string> = {}): ApiResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(value),
});

export function mediaType(req: ApiRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Decodes a JSON, YAML or (whole objects) Kubernetes protobuf body into a value; 400 for malformed, 413 too large, 415 unknown types. */
export function decodeBody(req: ApiRequest, accepted: readonly string[] = ['application/json', 'application/yaml', '']): unknown {
  const body = req.body ?? Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) throw requestEntityTooLarge(MAX_BODY_BYTES);
  const type = mediaType(req);
  // Typed clients (kubectl create namespace...) send whole objects as protobuf; patches never are.
  if (type === PROTOBUF_MEDIA_TYPE && accepted.includes('application/json')) return decodeProtobuf(body);
  if (!accepted.includes(type)) throw unsupportedMediaType(type || '(none)');
  const text = body.toString('utf8');
  if (!text.trim()) throw badRequest('the request body is empty');
  try {
    if (type === 'application/yaml' || type === 'application/apply-patch+yaml') return yaml.load(text, { schema: yaml.JSON_SCHEMA });
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`the body of the request could not be decoded: ${(e as Error).message.split('\n')[0]}`);
  }
}
