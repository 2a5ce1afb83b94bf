/**
 * Pod Security Standards policy: levels, versions and the namespace labels that choose them, as
 * k8s.io/pod-security-admission/api does (helpers.go, PolicyToEvaluate), with Stratus' defaults:
 * a namespace without an enforce label is enforced at its cluster's level (baseline unless the
 * cluster was created with another), kube-system at privileged, and audit and warn follow the
 * namespace's enforce level unless labelled themselves.
 */

export const LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type Level = (typeof LEVELS)[number];

/** A policy version: `latest` or v1.MINOR. */
export type Version = { readonly latest: true } | { readonly latest: false; readonly minor: number };
export const LATEST: Version = { latest: true };

export const versionString = (v: Version): string => (v.latest ? 'latest' : `v1.${v.minor}`);

export interface LevelVersion {
  readonly level: Level;
  readonly version: Version;
}

/** `baseline:latest`, as Kubernetes prints a LevelVersion. */
export const levelVersionString = (lv: LevelVersion): string => `${lv.level}:${versionString(lv.version)}`;

export const sameLevelVersion = (a: LevelVersion, b: LevelVersion): boolean => levelVersionString(a) === levelVersionString(b);

export interface Policy {
  readonly enforce: LevelVersion;
  readonly audit: LevelVersion;
  readonly warn: LevelVersion;
}

export const LABEL_PREFIX = 'pod-security.kubernetes.io/';
export const ENFORCE_LEVEL_LABEL = `${LABEL_PREFIX}enforce`;
export const ENFORCE_VERSION_LABEL = `${LABEL_PREFIX}enforce-version`;
export const AUDIT_LEVEL_LABEL = `${LABEL_PREFIX}audit`;
export const AUDIT_VERSION_LABEL = `${LABEL_PREFIX}audit-version`;
export const WARN_LEVEL_LABEL = `${LABEL_PREFIX}warn`;
export const WARN_VERSION_LABEL = `${LABEL_PREFIX}warn-version`;

/** Audit annotation keys (api/constants.go). */
export const ENFORCED_POLICY_ANNOTATION = `${LABEL_PREFIX}enforce-policy`;
export const AUDIT_VIOLATIONS_ANNOTATION = `${LABEL_PREFIX}audit-violations`;

/** -1, 0 or 1 as `a` is less strict than, as strict as, or stricter than `b`. */
export function compareLevels(a: Level, b: Level): number {
  return Math.sign(LEVELS.indexOf(a) - LEVELS.indexOf(b));
}

export function parseLevel(s: string): Level | undefined {
  return (LEVELS as readonly string[]).includes(s) ? (s as Level) : undefined;
}

export function parseVersion(s: string): Version | undefined {
  if (s === 'latest') return LATEST;
  const m = /^v1\.([0-9]|[1-9][0-9]*)$/.exec(s);
  return m ? { latest: false, minor: Number(m[1]) } : undefined;
}

/** One invalid label, as a field cause of a 422 (metadata.labels[KEY]: Invalid value: ...). */
export interface LabelError {
  readonly field: string;
  readonly reason: 'FieldValueInvalid';
  readonly message: string;
}

const labelError = (label: string, value: string, why: string): LabelError => ({
  field: `metadata.labels[${label}]`,
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
});
const LEVEL_WHY = `must be one of ${LEVELS.join(', ')}`;
const VERSION_WHY = 'must be "latest" or "v1.x"';

/**
 * The namespace's policy from its labels over `defaultLevel` (the cluster's, or privileged for
 * kube-system). Always a valid policy, with errors for labels that could not be parsed: a bad
 * enforce level enforces restricted, a bad audit or warn level fails open (privileged), a bad
 * version means latest, as in Kubernetes.
 */
export function policyToEvaluate(labels: Readonly<Record<string, string>> | undefined, defaultLevel: Level): { policy: Policy; errors: LabelError[] } {
  const l = labels ?? {};
  const errors: LabelError[] = [];
  const level = (key: string, fallback: Level, onError: Level): Level => {
    const v = l[key];
    if (v === undefined) return fallback;
    const parsed = parseLevel(v);
    if (!parsed) errors.push(labelError(key, v, LEVEL_WHY));
    return parsed ?? onError;
  };
  const version = (key: string): Version => {
    const v = l[key];
    if (v === undefined) return LATEST;
    const parsed = parseVersion(v);
    if (!parsed) errors.push(labelError(key, v, VERSION_WHY));
    return parsed ?? LATEST;
  };
  const enforce: LevelVersion = { level: level(ENFORCE_LEVEL_LABEL, defaultLevel, 'restricted'), version: version(ENFORCE_VERSION_LABEL) };
  // Unlabelled audit and warn follow enforce: a namespace labelled privileged is quiet, a
  // Deployment in a baseline namespace hears why its pods will be refused.
  const audit: LevelVersion = { level: level(AUDIT_LEVEL_LABEL, enforce.level, 'privileged'), version: l[AUDIT_VERSION_LABEL] !== undefined ? version(AUDIT_VERSION_LABEL) : enforce.version };
  const warn: LevelVersion = { level: level(WARN_LEVEL_LABEL, enforce.level, 'privileged'), version: l[WARN_VERSION_LABEL] !== undefined ? version(WARN_VERSION_LABEL) : enforce.version };
  return { policy: { enforce, audit, warn }, errors };
}
