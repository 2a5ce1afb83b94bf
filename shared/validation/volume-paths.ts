import type { StatusCause } from '../errors';

/*
 * The path checks of Kubernetes' pod validation (pkg/apis/core/validation: validateKeyToPath,
 * validateDownwardAPIVolumeFile, validateProjectionSources, validateHostPathVolumeSource,
 * ValidateVolumeMounts), with its field paths and words. A pod whose volume item paths or
 * subPaths climb out of their volume ('..'), are absolute, or start with '..' (the atomic
 * writer's own `..data` and timestamped directories) is refused by the API with 422, as
 * kube-apiserver does; the node agent checks the same again before it writes or mounts anything.
 * Field paths keep Kubernetes' quirks: a downwardAPI item's path is reported as
 * `...downwardAPI.path` and a projected token's as `...projected.path` (no item index).
 */

type Loose = Record<string, unknown>;
const isLoose = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Loose[] => (Array.isArray(v) ? v.filter(isLoose) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const required = (field: string): StatusCause => ({ reason: 'FieldValueRequired', message: 'Required value', field });
const invalid = (field: string, value: string, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });

/** validatePathNoBacksteps: no `..` element. */
export function noBacksteps(path: string, field: string): StatusCause[] {
  return path.split('/').includes('..') ? [invalid(field, path, "must not contain '..'")] : [];
}

/** validateLocalDescendingPath: relative, no `..` element. */
export function localDescendingPath(path: string, field: string): StatusCause[] {
  return [...(path.startsWith('/') ? [invalid(field, path, 'must be a relative path')] : []), ...noBacksteps(path, field)];
}

/** ValidateLocalNonReservedPath: relative, no `..` element, not starting with `..`. */
export function localNonReservedPath(path: string, field: string): StatusCause[] {
  const causes = localDescendingPath(path, field);
  if (path.startsWith('..') && !path.startsWith('../')) causes.push(invalid(field, path, "must not start with '..'"));
  return causes;
}

/** validateKeyToPath (secret and configMap items). */
function keyToPath(item: Loose, at: string): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!str(item.key)) causes.push(required(`${at}.key`));
  if (!str(item.path)) causes.push(required(`${at}.path`));
  causes.push(...localNonReservedPath(str(item.path), `${at}.path`));
  return causes;
}

/** validateDownwardAPIVolumeFile's path part; `at` is the volume (or projection) path, as in Kubernetes. */
function downwardApiFile(item: Loose, at: string): StatusCause[] {
  return [...(str(item.path) ? [] : [required(`${at}.path`)]), ...localNonReservedPath(str(item.path), `${at}.path`)];
}

/** The path problems of `spec.volumes`, in Kubernetes' order and words. */
export function validateVolumePaths(volumes: unknown, base = 'spec.volumes'): StatusCause[] {
  const causes: StatusCause[] = [];
  list(volumes).forEach((v, i) => {
    const at = `${base}[${i}]`;
    if (isLoose(v.hostPath)) {
      const p = str(v.hostPath.path);
      if (!p) causes.push(required(`${at}.hostPath.path`));
      else causes.push(...noBacksteps(p, `${at}.hostPath.path`));
    }
    for (const kind of ['secret', 'configMap'] as const) {
      const src = v[kind];
      if (isLoose(src)) list(src.items).forEach((item, j) => causes.push(...keyToPath(item, `${at}.${kind}.items[${j}]`)));
    }
    if (isLoose(v.downwardAPI)) for (const item of list(v.downwardAPI.items)) causes.push(...downwardApiFile(item, `${at}.downwardAPI`));
    if (isLoose(v.projected)) {
      const projected = `${at}.projected`;
      list(v.projected.sources).forEach((s, j) => {
        const src = `${projected}.sources[${j}]`;
        for (const kind of ['secret', 'configMap'] as const) {
          const p = s[kind];
          if (isLoose(p)) list(p.items).forEach((item, k) => causes.push(...keyToPath(item, `${src}.${kind}.items[${k}]`)));
        }
        if (isLoose(s.downwardAPI)) for (const item of list(s.downwardAPI.items)) causes.push(...downwardApiFile(item, `${src}.downwardAPI`));
        if (isLoose(s.serviceAccountToken)) {
          const p = str(s.serviceAccountToken.path);
          if (!p) causes.push(required(`${projected}.path`));
          else causes.push(...localNonReservedPath(p, `${projected}.path`));
        }
      });
    }
  });
  return causes;
}

/** The subPath problems of one container list's volumeMounts (`base`: `spec.containers`). */
export function validateMountPaths(containers: unknown, base: string): StatusCause[] {
  const causes: StatusCause[] = [];
  list(containers).forEach((c, i) => {
    list(c.volumeMounts).forEach((m, j) => {
      const at = `${base}[${i}].volumeMounts[${j}]`;
      const sub = str(m.subPath);
      const expr = str(m.subPathExpr);
      if (sub) causes.push(...localDescendingPath(sub, `${at}.subPath`));
      if (expr) {
        if (sub) causes.push(invalid(`${at}.subPathExpr`, expr, 'subPathExpr and subPath are mutually exclusive'));
        causes.push(...localDescendingPath(expr, `${at}.subPathExpr`));
      }
    });
  });
  return causes;
}
