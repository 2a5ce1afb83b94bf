/**
 * The Pod Security Standards' checks, as k8s.io/pod-security-admission/policy defines them: each
 * check has an ID, a level and versions (the minimum policy version each variant applies from),
 * and says "allowed", or "forbidden: reason (detail)" in Kubernetes' words. Pure functions over a
 * pod's metadata and spec (a Pod's, or a workload's pod template's).
 *
 * A baseline check marked `overlap` is replaced at restricted by a stricter restricted check
 * (hostPath volumes by restricted volume types, non-default capabilities by unrestricted
 * capabilities, the baseline seccomp check by the restricted one). Results come in Kubernetes'
 * order: baseline checks (the overlapping ones last, at baseline only), then restricted ones,
 * each in check-ID order.
 */
import { levelVersionString, type LevelVersion } from './policy';

type Obj = Record<string, unknown>;

export interface PodMeta {
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The parts of a pod spec the checks read (loosely typed: any pod template's spec). */
export type PodSpecLike = Readonly<Record<string, unknown>>;

export type CheckResult = { readonly allowed: true } | { readonly allowed: false; readonly reason: string; readonly detail: string };

type CheckFn = (meta: PodMeta, spec: PodSpecLike) => CheckResult;

interface Check {
  readonly id: string;
  readonly level: 'baseline' | 'restricted';
  /** Replaced at restricted by a restricted check. */
  readonly overlap?: boolean;
  /** Variants by minimum version (minor of v1), increasing. */
  readonly versions: readonly { readonly minor: number; readonly check: CheckFn }[];
}

/** The newest policy version these checks know: what `latest` and newer versions evaluate as. */
export const LATEST_MINOR = 32;

const ALLOWED: CheckResult = { allowed: true };
const forbid = (reason: string, detail: string): CheckResult => ({ allowed: false, reason, detail });

const pluralize = (singular: string, plural: string, n: number) => (n === 1 ? singular : plural);
const joinQuote = (items: readonly string[]) => (items.length ? `"${items.join('", "')}"` : '');
const sorted = (s: Iterable<string>) => [...new Set(s)].sort();
const containerList = (names: readonly string[]) => `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;

const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Every container of the pod: init, regular and ephemeral (visitContainers). */
function containers(spec: PodSpecLike): { name: string; sc?: Obj; c: Obj }[] {
  return [...arr(spec.initContainers), ...arr(spec.containers), ...arr(spec.ephemeralContainers)]
    .map(obj)
    .filter((c): c is Obj => c !== undefined)
    .map((c) => ({ name: str(c.name), sc: obj(c.securityContext), c }));
}
const podSC = (spec: PodSpecLike): Obj | undefined => obj(spec.securityContext);

// ---- baseline ----

function hostNamespaces(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const used = (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((k) => spec[k] === true).map((k) => `${k}=true`);
  return used.length ? forbid('host namespaces', used.join(', ')) : ALLOWED;
}

function privileged(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const bad = containers(spec).filter((c) => c.sc?.privileged === true).map((c) => c.name);
  return bad.length ? forbid('privileged', `${containerList(bad)} must not set securityContext.privileged=true`) : ALLOWED;
}

const DEFAULT_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);

function capabilitiesBaseline(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const bad: string[] = [];
  const caps = new Set<string>();
  for (const c of containers(spec)) {
    const extra = arr(obj(c.sc?.capabilities)?.add).map(str).filter((cap) => !DEFAULT_CAPABILITIES.has(cap));
    if (extra.length) {
      bad.push(c.name);
      extra.forEach((cap) => caps.add(cap));
    }
  }
  return bad.length ? forbid('non-default capabilities', `${containerList(bad)} must not include ${joinQuote(sorted(caps))} in securityContext.capabilities.add`) : ALLOWED;
}

function hostPathVolumes(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const bad = arr(spec.volumes).map(obj).filter((v) => v?.hostPath !== undefined).map((v) => str(v!.name));
  return bad.length ? forbid('hostPath volumes', `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)}`) : ALLOWED;
}

function hostPorts(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const bad: string[] = [];
  const ports = new Set<string>();
  for (const c of containers(spec)) {
    const used = arr(c.c.ports).map(obj).map((p) => p?.hostPort).filter((p): p is number => typeof p === 'number' && p !== 0);
    if (used.length) {
      bad.push(c.name);
      used.forEach((p) => ports.add(String(p)));
    }
  }
  if (!bad.length) return ALLOWED;
  const list = sorted(ports);
  return forbid('hostPort', `${containerList(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('hostPort', 'hostPorts', list.length)} ${list.join(', ')}`);
}

const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';
const allowedAppArmorType = (t: string) => t === 'RuntimeDefault' || t === 'Localhost';
const allowedAppArmorAnnotation = (v: string) => v === '' || v === 'runtime/default' || v.startsWith('localhost/');

function appArmorProfile(meta: PodMeta, spec: PodSpecLike): CheckResult {
  const setters: string[] = [];
  const values = new Set<string>();
  const podProfile = obj(podSC(spec)?.appArmorProfile);
  if (podProfile && !allowedAppArmorType(str(podProfile.type))) {
    setters.push('pod');
    values.add(str(podProfile.type));
  }
  const bad: string[] = [];
  for (const c of containers(spec)) {
    const p = obj(c.sc?.appArmorProfile);
    if (p && !allowedAppArmorType(str(p.type))) {
      bad.push(c.name);
      values.add(str(p.type));
    }
  }
  if (bad.length) setters.push(containerList(bad));
  const annotations = Object.entries(meta.annotations ?? {})
    .filter(([k, v]) => k.startsWith(APPARMOR_ANNOTATION_PREFIX) && !allowedAppArmorAnnotation(v))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .sort();
  const list = [...sorted(values), ...annotations];
  if (annotations.length) setters.push(pluralize('annotation', 'annotations', annotations.length));
  if (!setters.length) return ALLOWED;
  return forbid(pluralize('forbidden AppArmor profile', 'forbidden AppArmor profiles', list.length), `${setters.join(' and ')} must not set AppArmor profile type to ${joinQuote(list)}`);
}

const SELINUX_TYPES_1_0 = ['', 'container_t', 'container_init_t', 'container_kvm_t'];
const SELINUX_TYPES_1_31 = [...SELINUX_TYPES_1_0, 'container_engine_t'];

const seLinuxOptions = (allowedTypes: readonly string[]): CheckFn => (_m, spec) => {
  const setters: string[] = [];
  const badTypes = new Set<string>();
  let user = false;
  let role = false;
  const valid = (o: Obj): boolean => {
    let ok = true;
    if (!allowedTypes.includes(str(o.type))) {
      ok = false;
      badTypes.add(str(o.type));
    }
    if (str(o.user)) {
      ok = false;
      user = true;
    }
    if (str(o.role)) {
      ok = false;
      role = true;
    }
    return ok;
  };
  const podOpts = obj(podSC(spec)?.seLinuxOptions);
  if (podOpts && !valid(podOpts)) setters.push('pod');
  const bad = containers(spec).filter((c) => {
    const o = obj(c.sc?.seLinuxOptions);
    return o !== undefined && !valid(o);
  }).map((c) => c.name);
  if (bad.length) setters.push(containerList(bad));
  if (!setters.length) return ALLOWED;
  const data: string[] = [];
  if (badTypes.size) data.push(`${pluralize('type', 'types', badTypes.size)} ${joinQuote(sorted(badTypes))}`);
  if (user) data.push('user may not be set');
  if (role) data.push('role may not be set');
  return forbid('seLinuxOptions', `${setters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${data.join('; ')}`);
};

function procMount(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const bad: string[] = [];
  const types = new Set<string>();
  for (const c of containers(spec)) {
    const t = c.sc?.procMount;
    if (t !== undefined && t !== null && t !== 'Default') {
      bad.push(c.name);
      types.add(str(t));
    }
  }
  return bad.length ? forbid('procMount', `${containerList(bad)} must not set securityContext.procMount to ${joinQuote(sorted(types))}`) : ALLOWED;
}

const SECCOMP_POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';
const SECCOMP_CONTAINER_ANNOTATION_PREFIX = 'container.seccomp.security.alpha.kubernetes.io/';
const validSeccompType = (t: string) => t === 'RuntimeDefault' || t === 'Localhost';
const validSeccompAnnotation = (v: string) => v === 'runtime/default' || v === 'docker/default' || v.startsWith('localhost/');

/** Before v1.19 seccomp was set by annotations. */
function seccompBaseline_1_0(meta: PodMeta, spec: PodSpecLike): CheckResult {
  const a = meta.annotations ?? {};
  const bad = new Set<string>();
  if (a[SECCOMP_POD_ANNOTATION] !== undefined && !validSeccompAnnotation(a[SECCOMP_POD_ANNOTATION]!)) bad.add(`${SECCOMP_POD_ANNOTATION}=${JSON.stringify(a[SECCOMP_POD_ANNOTATION])}`);
  for (const c of containers(spec)) {
    const key = `${SECCOMP_CONTAINER_ANNOTATION_PREFIX}${c.name}`;
    if (a[key] !== undefined && !validSeccompAnnotation(a[key]!)) bad.add(`${key}=${JSON.stringify(a[key])}`);
  }
  return bad.size ? forbid('seccompProfile', `forbidden ${pluralize('annotation', 'annotations', bad.size)} ${sorted(bad).join(', ')}`) : ALLOWED;
}

/** The seccomp check: explicit bad types always; with `required`, containers left unset without a valid pod profile too. */
const seccompFields = (required: boolean): CheckFn => (_m, spec) => {
  const setters: string[] = [];
  const values = new Set<string>();
  let podSet = false;
  const podProfile = obj(podSC(spec)?.seccompProfile);
  if (podProfile) {
    if (!validSeccompType(str(podProfile.type))) {
      setters.push('pod');
      values.add(str(podProfile.type));
    } else podSet = true;
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of containers(spec)) {
    const p = obj(c.sc?.seccompProfile);
    if (p) {
      if (!validSeccompType(str(p.type))) {
        explicit.push(c.name);
        values.add(str(p.type));
      }
    } else if (!podSet) implicit.push(c.name);
  }
  if (explicit.length) setters.push(containerList(explicit));
  if (setters.length) return forbid('seccompProfile', `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sorted(values))}`);
  if (required && implicit.length) return forbid('seccompProfile', `pod or ${containerList(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`);
  return ALLOWED;
};

const SYSCTLS_1_0 = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start'];
const SYSCTLS_1_27 = [...SYSCTLS_1_0, 'net.ipv4.ip_local_reserved_ports'];
const SYSCTLS_1_29 = [...SYSCTLS_1_27, 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'];
const SYSCTLS_1_32 = [...SYSCTLS_1_29, 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'];

const sysctls = (allowed: readonly string[]): CheckFn => (_m, spec) => {
  const bad = arr(podSC(spec)?.sysctls).map((s) => str(obj(s)?.name)).filter((n) => !allowed.includes(n));
  return bad.length ? forbid('forbidden sysctls', bad.join(', ')) : ALLOWED;
};

function windowsHostProcess(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const setters: string[] = [];
  if (obj(podSC(spec)?.windowsOptions)?.hostProcess === true) setters.push('pod');
  const bad = containers(spec).filter((c) => obj(c.sc?.windowsOptions)?.hostProcess === true).map((c) => c.name);
  if (bad.length) setters.push(containerList(bad));
  return setters.length ? forbid('hostProcess', `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true`) : ALLOWED;
}

// ---- restricted ----

function allowPrivilegeEscalation(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const bad = containers(spec).filter((c) => c.sc?.allowPrivilegeEscalation !== false).map((c) => c.name);
  return bad.length ? forbid('allowPrivilegeEscalation != false', `${containerList(bad)} must set securityContext.allowPrivilegeEscalation=false`) : ALLOWED;
}

function capabilitiesRestricted(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const missingDrop: string[] = [];
  const adding: string[] = [];
  const caps = new Set<string>();
  for (const c of containers(spec)) {
    const capabilities = obj(c.sc?.capabilities);
    if (!capabilities) {
      missingDrop.push(c.name);
      continue;
    }
    if (!arr(capabilities.drop).includes('ALL')) missingDrop.push(c.name);
    const extra = arr(capabilities.add).map(str).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (extra.length) {
      adding.push(c.name);
      extra.forEach((cap) => caps.add(cap));
    }
  }
  const details: string[] = [];
  if (missingDrop.length) details.push(`${containerList(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length) details.push(`${containerList(adding)} must not include ${joinQuote(sorted(caps))} in securityContext.capabilities.add`);
  return details.length ? forbid('unrestricted capabilities', details.join('; ')) : ALLOWED;
}

const ALLOWED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

function restrictedVolumes(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const bad: string[] = [];
  const types = new Set<string>();
  for (const v of arr(spec.volumes).map(obj)) {
    if (!v) continue;
    const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] !== undefined && v[k] !== null);
    if (sources.some((s) => ALLOWED_VOLUME_TYPES.has(s))) continue;
    bad.push(str(v.name));
    types.add(sources[0] ?? 'unknown');
  }
  if (!bad.length) return ALLOWED;
  const list = sorted(types);
  return forbid(
    'restricted volume types',
    `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', list.length)} ${joinQuote(list)}`,
  );
}

function runAsNonRoot(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const setters: string[] = [];
  let podNonRoot = false;
  const podValue = podSC(spec)?.runAsNonRoot;
  if (typeof podValue === 'boolean') {
    if (!podValue) setters.push('pod');
    else podNonRoot = true;
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of containers(spec)) {
    const v = c.sc?.runAsNonRoot;
    if (typeof v === 'boolean') {
      if (!v) explicit.push(c.name);
    } else if (!podNonRoot) implicit.push(c.name);
  }
  if (explicit.length) setters.push(containerList(explicit));
  if (setters.length) return forbid('runAsNonRoot != true', `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false`);
  if (implicit.length) return forbid('runAsNonRoot != true', `pod or ${containerList(implicit)} must set securityContext.runAsNonRoot=true`);
  return ALLOWED;
}

function runAsUser(_m: PodMeta, spec: PodSpecLike): CheckResult {
  const setters: string[] = [];
  if (podSC(spec)?.runAsUser === 0) setters.push('pod');
  const bad = containers(spec).filter((c) => c.sc?.runAsUser === 0).map((c) => c.name);
  if (bad.length) setters.push(containerList(bad));
  return setters.length ? forbid('runAsUser=0', `${setters.join(' and ')} must not set runAsUser=0`) : ALLOWED;
}

/**
 * Every check, in Kubernetes' registration order (policy/check_*.go by file name), which is the
 * order of a refusal's reasons.
 */
const CHECKS: readonly Check[] = [
  { id: 'allowPrivilegeEscalation', level: 'restricted', versions: [{ minor: 8, check: allowPrivilegeEscalation }] },
  { id: 'appArmorProfile', level: 'baseline', versions: [{ minor: 0, check: appArmorProfile }] },
  { id: 'capabilities_baseline', level: 'baseline', overlap: true, versions: [{ minor: 0, check: capabilitiesBaseline }] },
  { id: 'capabilities_restricted', level: 'restricted', versions: [{ minor: 22, check: capabilitiesRestricted }] },
  { id: 'hostNamespaces', level: 'baseline', versions: [{ minor: 0, check: hostNamespaces }] },
  { id: 'hostPathVolumes', level: 'baseline', overlap: true, versions: [{ minor: 0, check: hostPathVolumes }] },
  { id: 'hostPorts', level: 'baseline', versions: [{ minor: 0, check: hostPorts }] },
  { id: 'privileged', level: 'baseline', versions: [{ minor: 0, check: privileged }] },
  { id: 'procMount', level: 'baseline', versions: [{ minor: 0, check: procMount }] },
  { id: 'restrictedVolumes', level: 'restricted', versions: [{ minor: 0, check: restrictedVolumes }] },
  { id: 'runAsNonRoot', level: 'restricted', versions: [{ minor: 0, check: runAsNonRoot }] },
  { id: 'runAsUser', level: 'restricted', versions: [{ minor: 23, check: runAsUser }] },
  { id: 'seLinuxOptions', level: 'baseline', versions: [{ minor: 0, check: seLinuxOptions(SELINUX_TYPES_1_0) }, { minor: 31, check: seLinuxOptions(SELINUX_TYPES_1_31) }] },
  { id: 'seccompProfile_baseline', level: 'baseline', overlap: true, versions: [{ minor: 0, check: seccompBaseline_1_0 }, { minor: 19, check: seccompFields(false) }] },
  { id: 'seccompProfile_restricted', level: 'restricted', versions: [{ minor: 19, check: seccompFields(true) }] },
  { id: 'sysctls', level: 'baseline', versions: [{ minor: 0, check: sysctls(SYSCTLS_1_0) }, { minor: 27, check: sysctls(SYSCTLS_1_27) }, { minor: 29, check: sysctls(SYSCTLS_1_29) }, { minor: 32, check: sysctls(SYSCTLS_1_32) }] },
  { id: 'windowsHostProcess', level: 'baseline', versions: [{ minor: 0, check: windowsHostProcess }] },
];

/** The variant of a check that applies at `minor`, if the check exists by then. */
function variantAt(c: Check, minor: number): CheckFn | undefined {
  let fn: CheckFn | undefined;
  for (const v of c.versions) if (v.minor <= minor) fn = v.check;
  return fn;
}

/** The checks a level and version evaluate, in order. */
function checksFor(lv: LevelVersion): CheckFn[] {
  if (lv.level === 'privileged') return [];
  const minor = lv.version.latest ? LATEST_MINOR : Math.min(lv.version.minor, LATEST_MINOR);
  const pick = (pred: (c: Check) => boolean) => CHECKS.filter(pred).map((c) => variantAt(c, minor)).filter((f): f is CheckFn => f !== undefined);
  const baseline = pick((c) => c.level === 'baseline' && !c.overlap);
  if (lv.level === 'baseline') return [...baseline, ...pick((c) => c.level === 'baseline' && c.overlap === true)];
  return [...baseline, ...pick((c) => c.level === 'restricted')];
}

/** What a pod (or template) violates at a level and version: empty when it is allowed. */
export function evaluatePod(lv: LevelVersion, meta: PodMeta, spec: PodSpecLike): { reason: string; detail: string }[] {
  const out: { reason: string; detail: string }[] = [];
  for (const check of checksFor(lv)) {
    const r = check(meta, spec);
    if (!r.allowed) out.push({ reason: r.reason, detail: r.detail });
  }
  return out;
}

/** `reason (detail), reason (detail)`: AggregateCheckResult.ForbiddenDetail. */
export const forbiddenDetail = (violations: readonly { reason: string; detail: string }[]): string =>
  violations.map((v) => (v.detail ? `${v.reason} (${v.detail})` : v.reason)).join(', ');

/** `reason, reason`: AggregateCheckResult.ForbiddenReason. */
export const forbiddenReason = (violations: readonly { reason: string }[]): string => violations.map((v) => v.reason).join(', ');

/** `violates PodSecurity "baseline:latest": ...` (enforce) or the `would violate` of warn and audit. */
export const violationMessage = (lv: LevelVersion, violations: readonly { reason: string; detail: string }[], would = false): string =>
  `${would ? 'would violate' : 'violates'} PodSecurity ${JSON.stringify(levelVersionString(lv))}: ${forbiddenDetail(violations)}`;
