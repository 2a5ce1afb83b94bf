import { badRequest } from '../../shared/errors';
import { apiVersionOf, type KubeObject, type ResourceType } from '../../shared/resources';
import { defaultConvertor, type TableColumnDefinition } from '../../shared/printers/columns';

export { humanDuration, since, type TableColumnDefinition, type TableConvertor } from '../../shared/printers/columns';
export { podStatusCells } from '../../shared/printers/core';
import { json, type ApiRequest, type ApiResponse } from './request';

/*
 * meta.k8s.io/v1 Table output: what `kubectl get` asks for (Accept
 * `application/json;as=Table;v=v1;g=meta.k8s.io`) and prints as columns. The server decides the
 * columns and renders every cell, ages included; kubectl only lays them out, hiding columns
 * with priority > 0 unless `-o wide`. Columns and cells follow Kubernetes' own printers
 * (pkg/printers/internalversion/printers.go).
 */

/** One row: cells in column order, and the object as includeObject asked for. */
export interface TableRow {
  readonly cells: unknown[];
  readonly object?: unknown;
}

/** meta.k8s.io/v1 Table. `metadata` carries the list's resourceVersion and continue token. */
export interface Table {
  readonly kind: 'Table';
  readonly apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  readonly columnDefinitions: TableColumnDefinition[];
  readonly rows: TableRow[];
}


/**
 * Whether an Accept header asks for a meta.k8s.io/v1 (or v1beta1) Table in JSON, as
 * `kubectl get` does; a Table is never forced on a client that did not list it.
 */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim());
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') return false;
    const p = Object.fromEntries(params.map((kv) => kv.split('=').map((s) => s.trim()) as [string, string]));
    return p.as === 'Table' && p.g === 'meta.k8s.io' && (p.v === 'v1' || p.v === 'v1beta1');
  });
}

/** The Content-Type of a Table response. */
export const TABLE_CONTENT_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

/**
 * Renders objects of `rt` as a Table. `wide: false` keeps only priority-0 columns (kubectl
 * itself hides the others, so the api sends all of them, with wide: true). includeObject as
 * Kubernetes defines it: Object the whole object, Metadata a PartialObjectMetadata, None nothing.
 */
export function toTable(
  rt: ResourceType,
  objects: KubeObject[],
  opts: { wide: boolean; includeObject: 'None' | 'Metadata' | 'Object' },
  now: number = Date.now(),
): Table {
  const convertor = rt.table ?? defaultConvertor;
  const keep = convertor.columns.map((c) => opts.wide || c.priority === 0);
  const rows = objects.map((obj): TableRow => {
    const cells = convertor.cells(obj, now).filter((_, i) => keep[i]);
    const withKind = { apiVersion: apiVersionOf(rt), kind: rt.kind, ...obj };
    if (opts.includeObject === 'None') return { cells };
    if (opts.includeObject === 'Object') return { cells, object: withKind };
    return { cells, object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata } };
  });
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: {}, columnDefinitions: convertor.columns.filter((_, i) => keep[i]), rows };
}

/** The includeObject query parameter; Kubernetes' default is Metadata. */
export function includeObjectOf(query: URLSearchParams): 'None' | 'Metadata' | 'Object' | undefined {
  const v = query.get('includeObject');
  if (v === null || v === '') return 'Metadata';
  return v === 'None' || v === 'Metadata' || v === 'Object' ? v : undefined;
}

/**
 * The api's hook for get and list: when the client asked for a Table, renders the JSON
 * response (one object, or a list with its metadata) as one; otherwise passes it through.
 * An includeObject value Kubernetes does not know is 400, as there.
 */
export function asTable(rt: ResourceType, req: ApiRequest, res: ApiResponse): ApiResponse {
  if (!wantsTable(req.headers.accept) || res.statusCode !== 200) return res;
  const includeObject = includeObjectOf(req.query);
  if (!includeObject) throw badRequest(`includeObject must be one of "None", "Metadata", "Object" (got "${req.query.get('includeObject')}")`);
  const body = JSON.parse(res.body) as { items?: KubeObject[]; metadata?: Table['metadata'] } & KubeObject;
  const isList = Array.isArray(body.items);
  const table = toTable(rt, isList ? body.items! : [body], { wide: true, includeObject });
  if (isList) {
    const { resourceVersion, continue: cont, remainingItemCount } = body.metadata ?? {};
    table.metadata = { ...(resourceVersion ? { resourceVersion } : {}), ...(cont ? { continue: cont } : {}), ...(remainingItemCount !== undefined ? { remainingItemCount } : {}) };
  } else if (body.metadata?.resourceVersion) {
    table.metadata = { resourceVersion: body.metadata.resourceVersion };
  }
  return json(200, table, { ...res.headers, 'content-type': TABLE_CONTENT_TYPE });
}
