/**
 * A container's environment, as the kubelet builds it (makeEnvironmentVariables): envFrom first,
 * then env in order (later wins), each value expanded with $(VAR) against what came before;
 * valueFrom reads the pod's own fields, its resources, ConfigMaps and Secrets.
 *
 * A missing ConfigMap, Secret or key that is not optional is a ContainerConfigError: the
 * container is not created and waits with reason CreateContainerConfigError and Kubernetes'
 * message; the next sync tries again, so creating the ConfigMap later starts the container.
 */
import { z } from 'zod';
import { parseQuantity, tryParseQuantity } from './quantity';
import type { Container, Pod } from './types';

/** ConfigMap and Secret contents as the agent reads them (Secret data already base64-decoded). */
export interface ConfigData {
  readonly data: Readonly<Record<string, string>>;
  /** The exact bytes of every key, for volume files (binary values survive); @default data as UTF-8 */
  readonly bytes?: Readonly<Record<string, Buffer>>;
}

/**
 * Where the agent reads what pods reference. Contract: resolves undefined when the object does
 * not exist (404); rejects only when the API could not answer (then the sync is retried).
 */
export interface ConfigSource {
  configMap(namespace: string, name: string): Promise<ConfigData | undefined>;
  secret(namespace: string, name: string): Promise<ConfigData | undefined>;
}

/** A container cannot be configured as its spec says; the message is Kubernetes' own. */
export class ContainerConfigError extends Error {
  /** `options.cause`: what the agent logs but the pod's status must not show (e.g. host paths). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ContainerConfigError';
  }
}

/** Facts of the pod and node that fieldRef and resourceFieldRef read. */
export interface EnvContext {
  readonly podIP?: string;
  readonly hostIP: string;
  /** Node allocatable, used for unset limits (as the kubelet does). */
  readonly nodeCpuCores: number;
  readonly nodeMemoryBytes: number;
  /**
   * Service variables (KUBERNETES_SERVICE_HOST...): under the container's own envFrom and env,
   * which win, and visible to their $(VAR) expansion, as the kubelet layers them. @default none
   */
  readonly serviceEnv?: Readonly<Record<string, string>>;
  /**
   * The cluster's Services when the container is made (the kubelet's service lister), for the
   * Service environment variables; undefined when the node has no view of Services.
   */
  readonly services?: readonly ServiceLike[];
}

/** What the Service environment variables read of a Service. */
export interface ServiceLike {
  readonly metadata: { readonly name?: string; readonly namespace?: string };
  readonly spec: { readonly clusterIP?: string; readonly type?: string; readonly ports?: readonly { readonly name?: string; readonly port: number; readonly protocol?: string }[] };
}

/** Kubernetes' makeEnvVariableName: upper case, dashes to underscores. */
const envName = (s: string) => s.replace(/-/g, '_').toUpperCase();

/**
 * The Service environment variables (pkg/kubelet/envvars FromServices) of the Services in the
 * pod's namespace, unless spec.enableServiceLinks is false: NAME_SERVICE_HOST, NAME_SERVICE_PORT,
 * NAME_SERVICE_PORT_<PORTNAME> and the Docker-link forms (NAME_PORT, NAME_PORT_80_TCP with
 * _PROTO, _PORT, _ADDR). Services without a ClusterIP (headless, ExternalName) have none. The
 * `kubernetes` Service's (KUBERNETES_SERVICE_*, given whatever enableServiceLinks says) are made
 * where the pod's API access is (not here).
 */
export function serviceEnvironment(pod: Pod, services: readonly ServiceLike[]): { name: string; value: string }[] {
  if ((pod.spec as { enableServiceLinks?: unknown }).enableServiceLinks === false) return [];
  const ns = pod.metadata.namespace ?? 'default';
  const out: { name: string; value: string }[] = [];
  const mine = services
    .filter((s) => (s.metadata.namespace ?? 'default') === ns && s.metadata.name && !(ns === 'default' && s.metadata.name === 'kubernetes'))
    .sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  for (const s of mine) {
    const ip = s.spec.clusterIP;
    const ports = s.spec.ports ?? [];
    if (!ip || ip === 'None' || s.spec.type === 'ExternalName' || ports.length === 0) continue;
    const prefix = envName(s.metadata.name!);
    out.push({ name: `${prefix}_SERVICE_HOST`, value: ip }, { name: `${prefix}_SERVICE_PORT`, value: String(ports[0]!.port) });
    for (const p of ports) if (p.name) out.push({ name: `${prefix}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
    ports.forEach((p, i) => {
      const protocol = p.protocol || 'TCP';
      const url = `${protocol.toLowerCase()}://${ip}:${p.port}`;
      if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
      const pp = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
      out.push({ name: pp, value: url }, { name: `${pp}_PROTO`, value: protocol.toLowerCase() }, { name: `${pp}_PORT`, value: String(p.port) }, { name: `${pp}_ADDR`, value: ip });
    });
  }
  return out;
}

const KeyRefSchema = z.looseObject({ name: z.string().optional(), key: z.string(), optional: z.boolean().optional() });
const ValueFromSchema = z.looseObject({
  fieldRef: z.looseObject({ fieldPath: z.string(), apiVersion: z.string().optional() }).optional(),
  resourceFieldRef: z
    .looseObject({ containerName: z.string().optional(), resource: z.string(), divisor: z.union([z.string(), z.number()]).optional() })
    .optional(),
  configMapKeyRef: KeyRefSchema.optional(),
  secretKeyRef: KeyRefSchema.optional(),
});
const EnvFromSchema = z.looseObject({
  prefix: z.string().optional(),
  configMapRef: z.looseObject({ name: z.string().optional(), optional: z.boolean().optional() }).optional(),
  secretRef: z.looseObject({ name: z.string().optional(), optional: z.boolean().optional() }).optional(),
});

/**
 * Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion): $(NAME) becomes the value
 * when NAME is defined and stays as written when not; $$ is an escaped $.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = name === '' ? undefined : lookup(name);
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

/** A valid environment variable name (C identifier-ish, as Kubernetes' IsEnvVarName allows). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** fieldRef: what the downward API exposes of the pod. */
export function podFieldValue(pod: Pod, fieldPath: string, ctx: EnvContext): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'metadata.labels':
    case 'metadata.annotations': {
      const map = (fieldPath === 'metadata.labels' ? pod.metadata.labels : pod.metadata.annotations) ?? {};
      return Object.keys(map)
        .sort()
        .map((k) => `${k}=${JSON.stringify(map[k])}`)
        .join('\n');
    }
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return typeof pod.spec.serviceAccountName === 'string' ? pod.spec.serviceAccountName : '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP ?? '';
    default:
      throw new ContainerConfigError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/** resourceFieldRef: limits and requests in units of the divisor, rounded up (as the kubelet does). */
export function resourceFieldValue(pod: Pod, container: Container, ref: { containerName?: string; resource: string; divisor?: string | number }, ctx: EnvContext): string {
  const target = ref.containerName ? pod.spec.containers.find((c) => c.name === ref.containerName) : container;
  if (!target) throw new ContainerConfigError(`container ${ref.containerName} not found in pod ${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`);
  const [kind, resource] = ref.resource.split('.', 2) as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || !resource) throw new ContainerConfigError(`unsupported container resource : ${ref.resource}`);
  const limits = target.resources?.limits ?? {};
  const requests = target.resources?.requests ?? {};
  let value: number | undefined;
  if (kind === 'limits') {
    value = tryParseQuantity(limits[resource]);
    // An unset limit is the node's allocatable.
    if (value === undefined && resource === 'cpu') value = ctx.nodeCpuCores;
    if (value === undefined && resource === 'memory') value = ctx.nodeMemoryBytes;
  } else {
    value = tryParseQuantity(requests[resource]) ?? tryParseQuantity(limits[resource]);
  }
  let divisor = 1;
  try {
    divisor = ref.divisor === undefined ? 1 : parseQuantity(ref.divisor);
  } catch {
    throw new ContainerConfigError(`invalid divisor ${String(ref.divisor)}`);
  }
  if (!(divisor > 0)) divisor = 1;
  // Rounded up, with a little slack for float error ("500m" / "1m" must be 500, not 501).
  return String(Math.ceil((value ?? 0) / divisor - 1e-9));
}

export interface ResolvedEnvironment {
  readonly env: readonly { readonly name: string; readonly value: string }[];
  /** Keys envFrom skipped because they are not valid variable names (the kubelet's event). */
  readonly invalidKeys: readonly string[];
}

/** Builds the container's environment; throws ContainerConfigError for what Kubernetes refuses. */
export async function makeEnvironment(pod: Pod, container: Container, ctx: EnvContext, source: ConfigSource): Promise<ResolvedEnvironment> {
  const ns = pod.metadata.namespace ?? 'default';
  const vars = new Map<string, string>();
  // Service variables: $(VAR) may refer to them; the container's own variables win (the kubelet's order).
  // The `kubernetes` Service's variables (ctx.serviceEnv, always) and the pod's namespace's Services' (unless enableServiceLinks is false).
  const serviceVars = new Map([...Object.entries(ctx.serviceEnv ?? {}), ...serviceEnvironment(pod, ctx.services ?? []).map((e): [string, string] => [e.name, e.value])]);
  const lookup = (n: string) => vars.get(n) ?? serviceVars.get(n);
  const invalidKeys: string[] = [];
  const configMaps = new Map<string, Promise<ConfigData | undefined>>();
  const secrets = new Map<string, Promise<ConfigData | undefined>>();
  const cm = (name: string) => configMaps.get(name) ?? configMaps.set(name, source.configMap(ns, name)).get(name)!;
  const secret = (name: string) => secrets.get(name) ?? secrets.set(name, source.secret(ns, name)).get(name)!;

  for (const raw of container.envFrom ?? []) {
    const parsed = EnvFromSchema.safeParse(raw);
    if (!parsed.success) throw new ContainerConfigError(`invalid envFrom: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
    const from = parsed.data;
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const isSecret = !from.configMapRef;
    const name = ref.name ?? '';
    const obj = await (isSecret ? secret(name) : cm(name));
    if (!obj) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${name}" not found`);
    }
    for (const [k, v] of Object.entries(obj.data)) {
      const key = `${from.prefix ?? ''}${k}`;
      if (!ENV_NAME.test(key)) invalidKeys.push(key);
      else vars.set(key, v);
    }
  }

  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      // Only variables defined before this one expand, as in Kubernetes.
      vars.set(e.name, expand(e.value ?? '', lookup));
      continue;
    }
    const parsed = ValueFromSchema.safeParse(e.valueFrom);
    if (!parsed.success) throw new ContainerConfigError(`invalid valueFrom for ${e.name}: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
    const vf = parsed.data;
    if (vf.fieldRef) vars.set(e.name, podFieldValue(pod, vf.fieldRef.fieldPath, ctx));
    else if (vf.resourceFieldRef) vars.set(e.name, resourceFieldValue(pod, container, vf.resourceFieldRef, ctx));
    else if (vf.configMapKeyRef || vf.secretKeyRef) {
      const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
      const isSecret = !vf.configMapKeyRef;
      const name = ref.name ?? '';
      const obj = await (isSecret ? secret(name) : cm(name));
      if (!obj) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${name}" not found`);
      }
      const value = obj.data[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`couldn't find key ${ref.key} in ${isSecret ? 'Secret' : 'ConfigMap'} ${ns}/${name}`);
      }
      vars.set(e.name, value);
    } else {
      throw new ContainerConfigError(`invalid valueFrom for ${e.name}: must specify one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef`);
    }
  }
  for (const [name, value] of serviceVars) if (!vars.has(name)) vars.set(name, value);
  return { env: [...vars].map(([name, value]) => ({ name, value })), invalidKeys };
}

/** command and args with $(VAR) expanded against the container's final environment. */
export function expandCommand(container: Container, env: ResolvedEnvironment): { command?: string[]; args?: string[] } {
  const map = new Map(env.env.map((e) => [e.name, e.value]));
  const lookup = (n: string) => map.get(n);
  return {
    ...(container.command ? { command: container.command.map((s) => expand(s, lookup)) } : {}),
    ...(container.args ? { args: container.args.map((s) => expand(s, lookup)) } : {}),
  };
}
