/**
 * Errors as Kubernetes `Status` objects. Every error that may reach a client is a StatusError;
 * the api function maps anything else to a 500 InternalError (and logs it) in exactly one place.
 */

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export interface StatusCause {
  readonly reason?: string;
  readonly message: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly uid?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

/** The wire form of a Kubernetes `Status` (meta/v1). */
export interface Status {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure' | 'Success';
  readonly message: string;
  readonly reason: StatusReason | '';
  readonly details?: StatusDetails;
  readonly code: number;
}

/** Details as Kubernetes writes them: its string fields are omitempty (no `"group": ""` for core kinds). */
function wireDetails(d: StatusDetails): StatusDetails {
  const out: { -readonly [K in keyof StatusDetails]: StatusDetails[K] } = {};
  if (d.name) out.name = d.name;
  if (d.group) out.group = d.group;
  if (d.kind) out.kind = d.kind;
  if (d.uid) out.uid = d.uid;
  if (d.causes?.length) out.causes = d.causes;
  if (d.retryAfterSeconds) out.retryAfterSeconds = d.retryAfterSeconds;
  return out;
}

export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StatusError';
  }

  toStatus(): Status {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: wireDetails(this.details) } : {}),
      code: this.code,
    };
  }
}

export const isStatusError = (e: unknown): e is StatusError => e instanceof StatusError;
export const isNotFound = (e: unknown): boolean => isStatusError(e) && e.code === 404;
export const isConflict = (e: unknown): boolean => isStatusError(e) && e.code === 409 && e.reason === 'Conflict';
export const isAlreadyExists = (e: unknown): boolean => isStatusError(e) && e.reason === 'AlreadyExists';

/** `group` is '' for the core group; Kubernetes writes `pods "x" not found`, or `deployments.apps "x"...`. */
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const badRequest = (message: string, causes?: StatusCause[]) =>
  new StatusError(400, 'BadRequest', message, causes ? { causes } : undefined);

export const unauthorized = (message = 'Unauthorized') => new StatusError(401, 'Unauthorized', message);

export const forbidden = (message: string, details?: StatusDetails) => new StatusError(403, 'Forbidden', message, details);

export const notFound = (resource: string, name: string, group = '') =>
  new StatusError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group, kind: resource });

/**
 * kube-apiserver's answer for a path it does not serve: this message and an empty `details`
 * object, which clients read (kubectl debug dereferences `details` to tell a missing
 * ephemeralcontainers subresource from a missing pod, and crashed on a Status without it).
 */
export const pathNotFound = (_path: string) => new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});

export const alreadyExists = (resource: string, name: string, group = '') =>
  new StatusError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, group, kind: resource });

export const conflict = (resource: string, name: string, group = '', why = 'the object has been modified; please apply your changes to the latest version and try again') =>
  new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, {
    name,
    group,
    kind: resource,
  });

export const gone = (message: string) => new StatusError(410, 'Expired', message);

/** 422 Invalid, with one cause per bad field, worded as Kubernetes words it. */
export const invalid = (kind: string, name: string, causes: StatusCause[], group = '') =>
  new StatusError(
    422,
    'Invalid',
    `${kind} "${name}" is invalid: ${causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ')}`,
    { name, group, kind, causes },
  );

/** kube-apiserver's 415 for a POST or PUT body in a format it does not read (its decoders' media types). */
export const unsupportedBodyType = () =>
  new StatusError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf');

/** kube-apiserver's 415 for a PATCH of a type it does not take (its installer's patch types). */
export const unsupportedPatchType = () =>
  new StatusError(
    415,
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
  );

export const methodNotAllowed = (method: string) =>
  new StatusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);

export const unsupportedMediaType = (contentType: string) =>
  new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json (got ${contentType})`);

/** Kubernetes' words (errors.NewRequestEntityTooLargeError) for a body over the limit. */
export const requestEntityTooLarge = (limit: number) =>
  new StatusError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);

export const internalError = (message = 'an internal error occurred') => new StatusError(500, 'InternalError', message);
