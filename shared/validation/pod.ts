import type { StatusCause } from '../errors';
import type { KubeObject } from '../resources';
import type { Container, PodSpec } from '../schemas/pod';
import { dns1123LabelProblem } from '../schemas/meta';
import { isQuantity, parseQuantity } from '../schemas/quantity';
import { canonicalJson } from '../canonical';
import { validateMountPaths, validateVolumePaths } from './volume-paths';

const required = (field: string): StatusCause => ({ reason: 'FieldValueRequired', message: 'Required value', field });
const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
  field,
});

function validateContainers(list: Container[] | undefined, path: string, names: Set<string>): StatusCause[] {
  const causes: StatusCause[] = [];
  (list ?? []).forEach((c, i) => {
    const at = `${path}[${i}]`;
    if (!c.name) causes.push(required(`${at}.name`));
    else {
      const problem = dns1123LabelProblem(c.name);
      if (problem) causes.push(invalidValue(`${at}.name`, c.name, problem));
      if (names.has(c.name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${c.name}"`, field: `${at}.name` });
      names.add(c.name);
    }
    if (!c.image || !c.image.trim()) causes.push(required(`${at}.image`));
    (c.ports ?? []).forEach((p, j) => {
      if (p.containerPort < 1 || p.containerPort > 65535)
        causes.push(invalidValue(`${at}.ports[${j}].containerPort`, p.containerPort, 'must be between 1 and 65535, inclusive'));
    });
    const envNames = new Set<string>();
    (c.env ?? []).forEach((e, j) => {
      if (!e.name) causes.push(required(`${at}.env[${j}].name`));
      envNames.add(e.name);
    });
    for (const kind of ['requests', 'limits'] as const) {
      for (const [k, v] of Object.entries(c.resources?.[kind] ?? {})) {
        if (!isQuantity(String(v))) causes.push(invalidValue(`${at}.resources.${kind}[${k}]`, v, 'must be a quantity'));
        else if (String(v).startsWith('-')) causes.push(invalidValue(`${at}.resources.${kind}[${k}]`, v, 'must be greater than or equal to 0'));
      }
    }
    // A request above its limit (Kubernetes' ValidateResourceRequirements, same words and path).
    for (const [k, req] of Object.entries(c.resources?.requests ?? {})) {
      const lim = c.resources?.limits?.[k];
      if (lim === undefined || !isQuantity(String(req)) || !isQuantity(String(lim))) continue;
      const r = parseQuantity(req as string | number);
      const l = parseQuantity(lim as string | number);
      if (r !== undefined && l !== undefined && r > l)
        causes.push(invalidValue(`${at}.resources.requests[${k}]`, String(req), `must be less than or equal to ${k} limit of ${String(lim)}`));
    }
  });
  return causes;
}

/** Pod validation (a subset of Kubernetes' ValidatePod), with Kubernetes' field paths and words. */
export function validatePod(obj: KubeObject, old?: KubeObject): StatusCause[] {
  const spec = (obj.spec ?? {}) as PodSpec;
  const causes: StatusCause[] = [];
  // Volumes are immutable on update (below), so their paths are checked when the pod is made.
  if (!old) causes.push(...validateVolumePaths(spec.volumes));
  if (!spec.containers || spec.containers.length === 0) causes.push(required('spec.containers'));
  const names = new Set<string>();
  causes.push(...validateContainers(spec.initContainers, 'spec.initContainers', names));
  causes.push(...validateContainers(spec.containers, 'spec.containers', names));
  if (!old) causes.push(...validateMountPaths(spec.containers, 'spec.containers'), ...validateMountPaths(spec.initContainers, 'spec.initContainers'));
  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds < 0)
    causes.push(invalidValue('spec.terminationGracePeriodSeconds', spec.terminationGracePeriodSeconds, 'must be greater than or equal to 0'));
  if (old) {
    // Pod specs are immutable but for images and a few fields; nodeName only through binding.
    const oldSpec = (old.spec ?? {}) as PodSpec;
    const strip = (s: PodSpec) =>
      canonicalJson({
        ...s,
        containers: (s.containers ?? []).map((c) => ({ ...c, image: undefined })),
        initContainers: (s.initContainers ?? []).map((c) => ({ ...c, image: undefined })),
        activeDeadlineSeconds: undefined,
        tolerations: undefined,
        terminationGracePeriodSeconds: undefined,
      });
    if (strip(spec) !== strip(oldSpec))
      causes.push({
        reason: 'FieldValueForbidden',
        message:
          'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
        field: 'spec',
      });
  }
  return causes;
}

type Loose = Record<string, unknown>;
const isLoose = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);

/** SetDefaults_ObjectFieldSelector: a fieldRef without apiVersion means v1. */
function defaultFieldRef<T>(holder: T): T {
  if (!isLoose(holder) || !isLoose(holder.fieldRef) || holder.fieldRef.apiVersion) return holder;
  return { ...holder, fieldRef: { apiVersion: 'v1', ...holder.fieldRef } };
}

/** Downward API items (a volume's or a projection's): each fieldRef gets its apiVersion. */
function defaultDownwardApi(src: unknown): unknown {
  if (!isLoose(src) || !Array.isArray(src.items)) return src;
  return { ...src, items: (src.items as unknown[]).map((i) => defaultFieldRef(i)) };
}

/**
 * SetDefaults_Volume: a volume that names no source is an emptyDir; downward API fieldRefs
 * (in a downwardAPI volume or a projected one) default their apiVersion to v1.
 */
function defaultVolume(v: Loose): Loose {
  if (Object.keys(v).every((k) => k === 'name')) return { ...v, emptyDir: {} };
  const out = { ...v };
  if (out.downwardAPI) out.downwardAPI = defaultDownwardApi(out.downwardAPI);
  if (isLoose(out.projected) && Array.isArray(out.projected.sources))
    out.projected = {
      ...out.projected,
      sources: out.projected.sources.map((s: unknown) => (isLoose(s) && s.downwardAPI ? { ...s, downwardAPI: defaultDownwardApi(s.downwardAPI) } : s)),
    };
  return out;
}

/** Kubernetes' pod defaults that clients see on read-back. */
export function defaultPod(obj: KubeObject): KubeObject {
  const spec = { ...((obj.spec ?? {}) as PodSpec) };
  const defaultContainer = (c: Container): Container => {
    const image = c.image ?? '';
    const lastSegment = image.split('/').pop() ?? '';
    const tag = image.includes('@') ? 'digest' : lastSegment.includes(':') ? lastSegment.split(':').pop() : 'latest';
    return {
      ...c,
      imagePullPolicy: c.imagePullPolicy ?? (tag === 'latest' ? 'Always' : 'IfNotPresent'),
      terminationMessagePath: c.terminationMessagePath ?? '/dev/termination-log',
      terminationMessagePolicy: c.terminationMessagePolicy ?? 'File',
      resources: c.resources ?? {},
      ...(c.ports ? { ports: c.ports.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' })) } : {}),
      ...(c.env ? { env: c.env.map((e) => (e.valueFrom ? { ...e, valueFrom: defaultFieldRef(e.valueFrom) } : e)) } : {}),
    };
  };
  if (spec.volumes) spec.volumes = spec.volumes.map(defaultVolume);
  spec.containers = (spec.containers ?? []).map(defaultContainer);
  if (spec.initContainers) spec.initContainers = spec.initContainers.map(defaultContainer);
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  spec.tolerations ??= [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  ];
  return { ...obj, spec };
}

/** Kubernetes' QoS class from requests and limits of every container. */
export function qosClass(spec: PodSpec): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const all = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  let any = false;
  let guaranteed = all.length > 0;
  for (const c of all) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      const l = lim[r];
      const q = req[r] ?? l;
      if (l === undefined || q !== l) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
