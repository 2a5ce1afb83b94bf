import { createHash } from 'node:crypto';
import { z } from 'zod';
import { fieldPatchMeta } from '../../shared/patch/strategy';
import { resourceTypes, type ResourceType } from '../../shared/resources';
import { COMMON_FIELD_DESCRIPTIONS, FIELD_DESCRIPTIONS, TYPE_DESCRIPTIONS } from '../../shared/schemas/descriptions';
import {
  ContainerPortSchema,
  ContainerSchema,
  ContainerStatusSchema,
  EnvVarSchema,
  ManagedFieldsEntrySchema,
  NodeConditionSchema,
  ObjectMetaSchema,
  ObjectReferenceSchema,
  OwnerReferenceSchema,
  PodConditionSchema,
  PodSpecSchema,
  PodStatusSchema,
  QuantitySchema,
  ResourceRequirementsSchema,
  TaintSchema,
} from '../../shared/schemas';
import { SUBRESOURCES, verbsOf } from './discovery';

/*
 * OpenAPI v3, generated from the zod schemas of the ResourceType registry:
 * - GET /openapi/v3: the index, one entry per group version ("api/v1", "apis/apps/v1");
 * - GET /openapi/v3/api/v1 (or /apis/{g}/{v}): that group version's paths and components.
 * kubectl needs it with default flags: `create/apply -f` look up each kind's PATCH operation
 * (x-kubernetes-group-version-kind) for a `fieldValidation` parameter before they trust the
 * server to validate, client-side apply computes strategic merge patches from the
 * x-kubernetes-patch-* extensions, and `kubectl explain` prints the descriptions.
 *
 * Why a walker over the zod definitions rather than z.toJSONSchema: Kubernetes' documents name
 * their components (io.k8s.api.core.v1.Container; kubectl explain prints `<[]Container>` from
 * the name), reference them with `allOf: [{$ref}]`, and carry x-kubernetes-* extensions per
 * field; a transform (QuantitySchema) is described by its input, as a client sends it.
 */

type Schema = Record<string, unknown>;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/** Component name of a kind: io.k8s.api.<first label of the group, or core>.<version>.<Kind>. */
export function componentName(group: string, version: string, kind: string): string {
  return `io.k8s.api.${group ? group.split('.')[0] : 'core'}.${version}.${kind}`;
}

/** Shared schemas with a Kubernetes name of their own. */
function knownNames(): Map<z.ZodType, string> {
  const core = (k: string) => componentName('', 'v1', k);
  return new Map<z.ZodType, string>([
    [ObjectMetaSchema, `${META}.ObjectMeta`],
    [OwnerReferenceSchema, `${META}.OwnerReference`],
    [ManagedFieldsEntrySchema, `${META}.ManagedFieldsEntry`],
    [QuantitySchema, 'io.k8s.apimachinery.pkg.api.resource.Quantity'],
    [PodSpecSchema, core('PodSpec')],
    [PodStatusSchema, core('PodStatus')],
    [ContainerSchema, core('Container')],
    [ContainerPortSchema, core('ContainerPort')],
    [EnvVarSchema, core('EnvVar')],
    [ResourceRequirementsSchema, core('ResourceRequirements')],
    [PodConditionSchema, core('PodCondition')],
    [ContainerStatusSchema, core('ContainerStatus')],
    [TaintSchema, core('Taint')],
    [NodeConditionSchema, core('NodeCondition')],
    [ObjectReferenceSchema, core('ObjectReference')],
  ]);
}

const shortName = (component: string) => component.slice(component.lastIndexOf('.') + 1);
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

// zod v4 keeps a schema's definition in `_zod.def`; only the parts read here are typed.
interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string | number>;
  values?: unknown[];
  checks?: { _zod: { def: { format?: string } } }[];
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const descriptionOf = (s: z.ZodType): string | undefined => z.globalRegistry.get(s)?.description;

/** Builds one document's component schemas, naming shared schemas and spec/status types. */
class ComponentBuilder {
  readonly components: Record<string, Schema> = {};
  private readonly names = knownNames();
  /** The package ("io.k8s.api.core.v1.") of the kind being added: its spec and status go there. */
  private pkg = '';

  /** Registers a kind's schema under its component name, with its group-version-kind. */
  addKind(rt: ResourceType): string {
    const name = componentName(rt.group, rt.version, rt.kind);
    this.pkg = componentName(rt.group, rt.version, '');
    this.names.set(rt.schema, name);
    this.named(rt.schema, name, rt.kind);
    const component = this.components[name]!;
    component['x-kubernetes-group-version-kind'] = [{ group: rt.group, version: rt.version, kind: rt.kind }];
    return name;
  }

  /** A `<Kind>List` component for list responses. */
  addList(rt: ResourceType, itemName: string): string {
    const name = `${itemName}List`;
    this.components[name] = {
      description: `${rt.kind}List is a list of ${rt.kind} objects.`,
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { type: 'string', description: COMMON_FIELD_DESCRIPTIONS.apiVersion },
        items: { type: 'array', description: `List of ${rt.resource}.`, items: { allOf: [ref(itemName)], default: {} } },
        kind: { type: 'string', description: COMMON_FIELD_DESCRIPTIONS.kind },
        metadata: { allOf: [ref(`${META}.ListMeta`)], default: {}, description: "Standard list metadata." },
      },
      'x-kubernetes-group-version-kind': [{ group: rt.group, version: rt.version, kind: `${rt.kind}List` }],
    };
    return name;
  }

  /** Converts a named object schema into components[name] (once). */
  private named(s: z.ZodType, name: string, kind?: string): void {
    if (this.components[name]) return;
    this.components[name] = {}; // placeholder: breaks cycles
    this.components[name] = this.objectSchema(s, shortName(name), kind);
  }

  private objectSchema(s: z.ZodType, typeName: string, kind?: string): Schema {
    const def = defOf(s);
    if (s === QuantitySchema) return { type: 'string', description: TYPE_DESCRIPTIONS.Quantity, 'x-kubernetes-int-or-string': true };
    if (def.type !== 'object') return this.schema(s, typeName, '');
    const properties: Record<string, Schema> = {};
    const required: string[] = [];
    const docs = FIELD_DESCRIPTIONS[typeName] ?? {};
    for (const [field, fieldSchema] of Object.entries(def.shape ?? {})) {
      const raw = this.schema(fieldSchema, typeName, field, kind);
      // OpenAPI 3.0 ignores siblings of $ref: Kubernetes wraps references in allOf to describe them.
      const prop: Schema = raw.$ref ? (raw.$ref === ref('io.k8s.apimachinery.pkg.api.resource.Quantity').$ref ? { allOf: [raw] } : { allOf: [raw], default: {} }) : raw;
      const description = this.fieldDescription(fieldSchema) ?? docs[field] ?? (kind ? COMMON_FIELD_DESCRIPTIONS[field] : undefined);
      if (description) prop.description = description;
      properties[field] = prop;
      if (isRequired(fieldSchema)) required.push(field);
    }
    const out: Schema = { type: 'object', properties };
    const description = descriptionOf(s) ?? TYPE_DESCRIPTIONS[typeName];
    if (description) out.description = description;
    if (required.length) out.required = required;
    if (def.catchall && defOf(def.catchall).type !== 'never') out['x-kubernetes-preserve-unknown-fields'] = true;
    return out;
  }

  private fieldDescription(s: z.ZodType): string | undefined {
    for (let cur: z.ZodType | undefined = s; cur; ) {
      const d = descriptionOf(cur);
      if (d) return d;
      const def = defOf(cur);
      cur = def.innerType;
    }
    return undefined;
  }

  /** The schema of a field `field` of type `parent` (names top-level spec/status types). */
  private schema(s: z.ZodType, parent: string, field: string, kind?: string): Schema {
    const def = defOf(s);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        return this.schema(def.innerType!, parent, field, kind);
      case 'pipe':
        return s === QuantitySchema ? this.refTo(s, 'io.k8s.apimachinery.pkg.api.resource.Quantity') : this.schema(def.in!, parent, field, kind);
      case 'string':
        return field.endsWith('Timestamp') || field.endsWith('Time') ? { type: 'string', format: 'date-time' } : { type: 'string' };
      case 'number': {
        const int = (def.checks ?? []).some((c) => c._zod.def.format?.includes('int'));
        return int ? { type: 'integer', format: /Seconds$|^generation$/.test(field) ? 'int64' : 'int32' } : { type: 'number', format: 'double' };
      }
      case 'int':
        return { type: 'integer', format: 'int32' };
      case 'boolean':
        return { type: 'boolean' };
      case 'enum':
        return { type: 'string', enum: Object.values(def.entries ?? {}) };
      case 'literal':
        return { type: typeof def.values?.[0] === 'number' ? 'integer' : 'string' };
      case 'array': {
        const items = this.schema(def.element!, parent, field, undefined);
        const out: Schema = { type: 'array', items: items.$ref ? { allOf: [items], default: {} } : items };
        return { ...out, ...listExtensions(parent, field, defOf(def.element!).type) };
      }
      case 'record': {
        const value = defOf(def.valueType!);
        if (value.type === 'unknown' || value.type === 'any') return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
        return { type: 'object', additionalProperties: this.schema(def.valueType!, parent, field, undefined) };
      }
      case 'union': {
        const types = (def.options ?? []).map((o) => defOf(o).type);
        if (types.every((t) => t === 'string' || t === 'number')) return { type: 'string', 'x-kubernetes-int-or-string': true };
        return {};
      }
      case 'object': {
        const known = this.names.get(s);
        if (known) return this.refTo(s, known);
        // Kubernetes names the spec and status of a kind <Kind>Spec and <Kind>Status.
        if (kind && (field === 'spec' || field === 'status')) {
          const name = `${this.pkg}${kind}${field === 'spec' ? 'Spec' : 'Status'}`;
          this.names.set(s, name);
          return this.refTo(s, name);
        }
        return this.objectSchema(s, `${parent}.${field}`, undefined);
      }
      default:
        return {}; // unknown, any, lazy...: any value
    }
  }

  private refTo(s: z.ZodType, name: string): Schema {
    this.named(s, name);
    return ref(name);
  }
}

const isRequired = (s: z.ZodType): boolean => !['optional', 'default', 'prefault', 'nullable'].includes(defOf(s).type) && !s.safeParse(undefined).success;

/** Kubernetes' list extensions, from the patch strategies of shared/patch/strategy.ts (by type and field), else atomic. */
function listExtensions(parent: string, field: string, elementType: string): Schema {
  const meta = fieldPatchMeta(parent, field);
  const key = meta?.mergeKey;
  if (meta && key && (elementType === 'object' || elementType === 'record')) {
    return {
      'x-kubernetes-list-map-keys': [key],
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-patch-merge-key': key,
      'x-kubernetes-patch-strategy': meta.strategy,
    };
  }
  if (meta && !key && meta.strategy.startsWith('merge')) return { 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': meta.strategy };
  return { 'x-kubernetes-list-type': 'atomic' };
}

// --- meta/v1 components every document references -----------------------------------------

function metaComponents(): Record<string, Schema> {
  return {
    [`${META}.ListMeta`]: {
      description: 'ListMeta describes metadata that synthetic resources must have, including lists and various status objects.',
      type: 'object',
      properties: {
        continue: { type: 'string', description: 'continue may be set if the user set a limit on the number of items returned.' },
        remainingItemCount: { type: 'integer', format: 'int64' },
        resourceVersion: { type: 'string', description: "String that identifies the server's internal version of this object." },
        selfLink: { type: 'string' },
      },
    },
    [`${META}.Status`]: {
      description: 'Status is a return value for calls that don\'t return other objects.',
      type: 'object',
      properties: {
        apiVersion: { type: 'string' },
        code: { type: 'integer', format: 'int32' },
        details: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        kind: { type: 'string' },
        message: { type: 'string' },
        metadata: { allOf: [ref(`${META}.ListMeta`)], default: {} },
        reason: { type: 'string' },
        status: { type: 'string' },
      },
      'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Status' }],
    },
    [`${META}.DeleteOptions`]: {
      description: 'DeleteOptions may be provided when deleting an API object.',
      type: 'object',
      properties: {
        apiVersion: { type: 'string' },
        dryRun: { type: 'array', items: { type: 'string', default: '' }, 'x-kubernetes-list-type': 'atomic' },
        gracePeriodSeconds: { type: 'integer', format: 'int64' },
        kind: { type: 'string' },
        orphanDependents: { type: 'boolean' },
        preconditions: {
          type: 'object',
          properties: { resourceVersion: { type: 'string' }, uid: { type: 'string' } },
        },
        propagationPolicy: { type: 'string' },
      },
      'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'DeleteOptions' }],
    },
    [`${META}.Patch`]: { description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.', type: 'object' },
  };
}

// --- paths ------------------------------------------------------------------------------------

const q = (name: string, description: string, type = 'string'): Schema => ({ name, in: 'query', description, schema: { type, uniqueItems: true } });
const PARAM = {
  pretty: q('pretty', "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
  dryRun: q('dryRun', 'When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed'),
  fieldManager: q('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  fieldValidation: q(
    'fieldValidation',
    'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.',
  ),
  force: q('force', 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.', 'boolean'),
  gracePeriodSeconds: q('gracePeriodSeconds', 'The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately.', 'integer'),
  propagationPolicy: q('propagationPolicy', "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
  orphanDependents: q('orphanDependents', 'Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.', 'boolean'),
  labelSelector: q('labelSelector', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  fieldSelector: q('fieldSelector', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  limit: q('limit', 'limit is a maximum number of responses to return for a list call.', 'integer'),
  continue: q('continue', 'The continue option should be set when retrieving more results from the server.'),
  resourceVersion: q('resourceVersion', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
  resourceVersionMatch: q('resourceVersionMatch', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'),
  watch: q('watch', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.', 'boolean'),
  allowWatchBookmarks: q('allowWatchBookmarks', 'allowWatchBookmarks requests watch events with type "BOOKMARK".', 'boolean'),
  sendInitialEvents: q('sendInitialEvents', '`sendInitialEvents=true` may be set together with `watch=true`.', 'boolean'),
  timeoutSeconds: q('timeoutSeconds', 'Timeout for the list/watch call.', 'integer'),
};
const pathParam = (name: string, description: string): Schema => ({ name, in: 'path', required: true, description, schema: { type: 'string', uniqueItems: true } });
const LIST_PARAMS = [
  PARAM.allowWatchBookmarks,
  PARAM.continue,
  PARAM.fieldSelector,
  PARAM.labelSelector,
  PARAM.limit,
  PARAM.resourceVersion,
  PARAM.resourceVersionMatch,
  PARAM.sendInitialEvents,
  PARAM.timeoutSeconds,
  PARAM.watch,
];
const WRITE_PARAMS = [PARAM.dryRun, PARAM.fieldManager, PARAM.fieldValidation];
const DELETE_PARAMS = [PARAM.dryRun, PARAM.gracePeriodSeconds, PARAM.orphanDependents, PARAM.propagationPolicy];

const RESPONSE_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const content = (schema: Schema) => Object.fromEntries(RESPONSE_TYPES.map((t) => [t, { schema }]));
const ok = (schema: Schema, codes: string[] = ['200']) =>
  Object.fromEntries([...codes.map((c): [string, unknown] => [c, { description: c === '201' ? 'Created' : c === '202' ? 'Accepted' : 'OK', content: content(schema) }]), ['401', { description: 'Unauthorized' }]]);

/** operationId words: `Core`/`Apps`/`Coordination` and `V1`. */
function opGroup(rt: ResourceType): string {
  const g = rt.group ? rt.group.split('.')[0]! : 'core';
  return `${g[0]!.toUpperCase()}${g.slice(1)}${rt.version[0]!.toUpperCase()}${rt.version.slice(1)}`;
}

/** The paths of one resource type, with the operations its verbs allow. */
function resourcePaths(rt: ResourceType, itemName: string, listName: string): Record<string, Schema> {
  const prefix = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const gvk = { group: rt.group, version: rt.version, kind: rt.kind };
  const verbs = new Set(verbsOf(rt));
  const ns = rt.namespaced ? 'Namespaced' : '';
  const id = (action: string, suffix = '') => `${action}${opGroup(rt)}${ns}${rt.kind}${suffix}`;
  const tags = [rt.group ? `${rt.group.split('.')[0]}_${rt.version}` : `core_${rt.version}`];
  const op = (operationId: string, action: string, description: string, extra: Schema, kind = gvk): Schema => ({
    tags,
    description,
    operationId,
    ...extra,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': kind,
  });
  const item = ref(itemName);
  const body = (schema: Schema) => ({ requestBody: { content: { '*/*': { schema } }, required: true } });
  const patchBody = {
    requestBody: {
      content: Object.fromEntries(
        ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'].map((t) => [
          t,
          { schema: ref(`${META}.Patch`) },
        ]),
      ),
      required: true,
    },
  };
  const nsParam = pathParam('namespace', 'object name and auth scope, such as for teams and projects');
  const base = rt.namespaced ? `${prefix}/namespaces/{namespace}/${rt.resource}` : `${prefix}/${rt.resource}`;
  const scope = rt.namespaced ? [nsParam, PARAM.pretty] : [PARAM.pretty];
  const paths: Record<string, Schema> = {};

  const collection: Schema = { parameters: scope };
  if (verbs.has('list')) collection.get = op(id('list'), 'list', `list or watch objects of kind ${rt.kind}`, { parameters: LIST_PARAMS, responses: ok(ref(listName)) });
  if (verbs.has('create'))
    collection.post = op(id('create'), 'post', `create a ${rt.kind}`, { parameters: WRITE_PARAMS, ...body(item), responses: ok(item, ['200', '201', '202']) });
  if (verbs.has('deletecollection'))
    collection.delete = op(`deletecollection${opGroup(rt)}${ns}${rt.kind}`, 'deletecollection', `delete collection of ${rt.kind}`, {
      parameters: [...DELETE_PARAMS, ...LIST_PARAMS.filter((p) => p.name !== 'watch')],
      requestBody: { content: { '*/*': { schema: ref(`${META}.DeleteOptions`) } } },
      responses: ok(ref(`${META}.Status`)),
    });
  paths[base] = collection;

  const named: Schema = { parameters: [pathParam('name', `name of the ${rt.kind}`), ...scope] };
  if (verbs.has('get')) named.get = op(id('read'), 'get', `read the specified ${rt.kind}`, { responses: ok(item) });
  if (verbs.has('update')) named.put = op(id('replace'), 'put', `replace the specified ${rt.kind}`, { parameters: WRITE_PARAMS, ...body(item), responses: ok(item, ['200', '201']) });
  if (verbs.has('patch'))
    named.patch = op(id('patch'), 'patch', `partially update the specified ${rt.kind}`, {
      parameters: [...WRITE_PARAMS, PARAM.force],
      ...patchBody,
      responses: ok(item, ['200', '201']),
    });
  if (verbs.has('delete'))
    named.delete = op(id('delete'), 'delete', `delete a ${rt.kind}`, {
      parameters: DELETE_PARAMS,
      requestBody: { content: { '*/*': { schema: ref(`${META}.DeleteOptions`) } } },
      responses: ok(item, ['200', '202']),
    });
  paths[`${base}/{name}`] = named;

  for (const sub of rt.subresources) {
    const info = SUBRESOURCES[sub];
    const subKind = { group: info.group ?? rt.group, version: info.version ?? rt.version, kind: info.kind ?? rt.kind };
    const subItem = info.kind && info.kind !== rt.kind ? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } : item;
    const Sub = `${sub[0]!.toUpperCase()}${sub.slice(1)}`;
    const p: Schema = { parameters: [pathParam('name', `name of the ${info.kind ?? rt.kind}`), ...scope] };
    if (info.verbs.includes('get')) p.get = op(id('read', Sub), 'get', `read ${sub} of the specified ${rt.kind}`, { responses: ok(subItem) }, subKind);
    if (info.verbs.includes('update'))
      p.put = op(id('replace', Sub), 'put', `replace ${sub} of the specified ${rt.kind}`, { parameters: WRITE_PARAMS, ...body(subItem), responses: ok(subItem, ['200', '201']) }, subKind);
    if (info.verbs.includes('patch'))
      p.patch = op(id('patch', Sub), 'patch', `partially update ${sub} of the specified ${rt.kind}`, { parameters: [...WRITE_PARAMS, PARAM.force], ...patchBody, responses: ok(subItem, ['200', '201']) }, subKind);
    if (info.verbs.includes('create'))
      p.post = op(id('create', Sub), 'post', `create ${sub} of a ${rt.kind}`, { parameters: WRITE_PARAMS, ...body(subItem), responses: ok(subItem, ['200', '201', '202']) }, subKind);
    paths[`${base}/{name}/${sub}`] = p;
  }

  if (rt.namespaced && verbs.has('list')) {
    paths[`${prefix}/${rt.resource}`] = {
      parameters: [PARAM.pretty],
      get: op(`list${opGroup(rt)}${rt.kind}ForAllNamespaces`, 'list', `list or watch objects of kind ${rt.kind}`, { parameters: LIST_PARAMS, responses: ok(ref(listName)) }),
    };
  }
  return paths;
}

// --- documents --------------------------------------------------------------------------------

/** Group versions served, as the index names them: "api/v1", "apis/apps/v1". */
export function groupVersionPaths(): string[] {
  const out: string[] = [];
  for (const rt of resourceTypes) {
    const p = rt.group ? `apis/${rt.group}/${rt.version}` : `api/${rt.version}`;
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

const documents = new Map<string, { doc: Schema; hash: string }>();

/** The OpenAPI v3 document of one group version ("api/v1"), or undefined if none is served. */
export function openApiDocument(gvPath: string): { doc: Schema; hash: string } | undefined {
  const cached = documents.get(gvPath);
  if (cached) return cached;
  const rts = resourceTypes.filter((rt) => (rt.group ? `apis/${rt.group}/${rt.version}` : `api/${rt.version}`) === gvPath);
  if (rts.length === 0) return undefined;
  const builder = new ComponentBuilder();
  const paths: Record<string, Schema> = {};
  for (const rt of rts) {
    const itemName = builder.addKind(rt);
    const listName = builder.addList(rt, itemName);
    Object.assign(paths, resourcePaths(rt, itemName, listName));
  }
  const doc: Schema = {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths,
    components: {
      schemas: { ...metaComponents(), ...builder.components },
      securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
    },
    security: [{ BearerToken: [] }],
  };
  const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();
  const entry = { doc, hash };
  documents.set(gvPath, entry);
  return entry;
}

/**
 * GET /openapi/v3: one entry per group version. serverRelativeURL carries the
 * `/clusters/{cluster}` prefix the request came with, because client-go requests it as is
 * (RequestURI replaces the whole path), and the hash, which clients use as a cache key.
 */
export function openApiIndex(clusterPrefix = ''): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of groupVersionPaths()) {
    const entry = openApiDocument(gv)!;
    paths[gv] = { serverRelativeURL: `${clusterPrefix}/openapi/v3/${gv}?hash=${entry.hash}` };
  }
  return { paths };
}
