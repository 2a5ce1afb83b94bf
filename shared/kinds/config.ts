import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { canonicalJson } from '../canonical';
import { configMaps, secrets } from '../printers/config';
import { ConfigMapSchema, SecretSchema, type ConfigMap, type Secret } from '../schemas/config';

/** ConfigMaps and Secrets hold at most 1 MiB of data, as in Kubernetes. */
const MAX_DATA_BYTES = 1024 * 1024;

/** Kubernetes' IsConfigMapKey, with its words. */
export function configKeyProblem(key: string): string | undefined {
  if (key.length > 253) return 'must be no more than 253 characters';
  if (!/^[-._a-zA-Z0-9]+$/.test(key))
    return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
  if (key === '.') return "must not be '.'";
  if (key === '..') return "must not be '..'";
  if (key.startsWith('..')) return "must not start with '..'";
  return undefined;
}

const invalidKey = (field: string, key: string, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": ${why}`, field });
const immutableCause = (field: string): StatusCause => ({ reason: 'FieldValueForbidden', message: 'Forbidden: field is immutable when `immutable` is set', field });

function keyCauses(field: string, map: Record<string, string> | undefined): StatusCause[] {
  return Object.keys(map ?? {}).flatMap((k) => {
    const why = configKeyProblem(k);
    return why ? [invalidKey(`${field}[${k}]`, k, why)] : [];
  });
}

/** Once `immutable: true` is stored, data and the flag itself are fixed (only metadata may change). */
function immutableCauses(obj: KubeObject, old: KubeObject | undefined, fields: readonly string[]): StatusCause[] {
  if (!old || old.immutable !== true) return [];
  const causes: StatusCause[] = [];
  if (obj.immutable !== true) causes.push(immutableCause('immutable'));
  for (const f of fields) if (canonicalJson(obj[f] ?? {}) !== canonicalJson(old[f] ?? {})) causes.push(immutableCause(f));
  return causes;
}

function validateConfigMap(obj: KubeObject, old?: KubeObject): StatusCause[] {
  const cm = obj as ConfigMap & KubeObject;
  const causes = [...keyCauses('data', cm.data), ...keyCauses('binaryData', cm.binaryData)];
  for (const k of Object.keys(cm.data ?? {})) {
    if (cm.binaryData && k in cm.binaryData) causes.push(invalidKey('data', k, 'duplicate of key present in binaryData'));
  }
  const size =
    Object.entries(cm.data ?? {}).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v), 0) +
    Object.entries(cm.binaryData ?? {}).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v, 'base64'), 0);
  if (size > MAX_DATA_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_DATA_BYTES} bytes`, field: 'data' });
  causes.push(...immutableCauses(obj, old, ['data', 'binaryData']));
  return causes;
}

/** Keys a Secret of a well-known type must carry (pkg/apis/core/validation ValidateSecret). */
const REQUIRED_KEYS: Record<string, readonly string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

function validateSecret(obj: KubeObject, old?: KubeObject): StatusCause[] {
  const s = obj as Secret & KubeObject;
  const causes = keyCauses('data', s.data);
  const type = s.type ?? 'Opaque';
  for (const k of REQUIRED_KEYS[type] ?? []) {
    if (!s.data || !(k in s.data)) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `data[${k}]` });
  }
  const size = Object.entries(s.data ?? {}).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v, 'base64'), 0);
  if (size > MAX_DATA_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_DATA_BYTES} bytes`, field: 'data' });
  if (old && (old.type ?? 'Opaque') !== type) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${type}": field is immutable`, field: 'type' });
  causes.push(...immutableCauses(obj, old, ['data']));
  return causes;
}

/** stringData is merged into data (it wins on equal keys) and dropped; type defaults to Opaque. */
export function defaultSecret(obj: KubeObject): KubeObject {
  const { stringData, ...rest } = obj as KubeObject & { stringData?: Record<string, string>; data?: Record<string, string> };
  const data = { ...(rest.data ?? {}) };
  for (const [k, v] of Object.entries(stringData ?? {})) data[k] = Buffer.from(v, 'utf8').toString('base64');
  return { ...rest, ...(Object.keys(data).length > 0 || rest.data ? { data } : {}), type: (rest.type as string | undefined) ?? 'Opaque' };
}

/** core/v1 ConfigMap and Secret (issue #5); PersistentVolume(Claim) and the like come later. */
export const configTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'configmaps',
    kind: 'ConfigMap',
    table: configMaps,
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    subresources: [],
    schema: ConfigMapSchema,
    validate: validateConfigMap,
    applyDefaults: (o) => o,
    nameIsLabel: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'secrets',
    kind: 'Secret',
    table: secrets,
    singular: 'secret',
    namespaced: true,
    shortNames: [],
    subresources: [],
    schema: SecretSchema,
    validate: validateSecret,
    applyDefaults: defaultSecret,
    nameIsLabel: false,
  },
];
