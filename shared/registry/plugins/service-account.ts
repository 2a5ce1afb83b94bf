import { randomInt } from 'node:crypto';
import { forbidden } from '../../errors';
import { resourceByName } from '../../resources';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission';
import { DEFAULT_SERVICE_ACCOUNT, ROOT_CA_CONFIGMAP } from '../../serviceaccounts/defaults';

/*
 * ServiceAccount admission (Kubernetes' plugin/pkg/admission/serviceaccount), for new pods:
 * spec.serviceAccountName defaults to `default`; a pod naming another ServiceAccount that does
 * not exist is refused (403, Kubernetes' words); unless automountServiceAccountToken is false on
 * the pod (or, when the pod does not say, on its ServiceAccount), the projected volume
 * `kube-api-access-xxxxx` (a bound token, kube-root-ca.crt's ca.crt, the namespace) is added
 * and mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container and
 * init container that has nothing mounted there. The `default` ServiceAccount may still be in
 * the making when a pod arrives right after its namespace (its controller runs on the stream):
 * such a pod is admitted, as if the ServiceAccount said nothing about automounting.
 */

export const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The kubelet-extended lifetime Kubernetes gives kube-api-access tokens (an hour and 7 s). */
export const KUBE_API_ACCESS_EXPIRATION_SECONDS = 3607;
/** k8s.io/apimachinery/pkg/util/rand's alphabet (no vowels, no confusable digits). */
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

export const apiAccessVolumeName = (): string => `kube-api-access-${Array.from({ length: 5 }, () => ALPHANUMS[randomInt(ALPHANUMS.length)]).join('')}`;

export function apiAccessVolume(name: string): Record<string, unknown> {
  return {
    name,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: KUBE_API_ACCESS_EXPIRATION_SECONDS, path: 'token' } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

type Mount = { mountPath?: string };
type ContainerLike = Record<string, unknown> & { volumeMounts?: Mount[] };

const mountsToken = (c: ContainerLike) => (c.volumeMounts ?? []).some((m) => m.mountPath === TOKEN_MOUNT_PATH);

/** The pod spec with the token volume added and mounted (pure; `volumeName` chosen by the caller). */
export function withApiAccessVolume(spec: Record<string, unknown>, volumeName: string): Record<string, unknown> {
  const containers = (spec.containers as ContainerLike[] | undefined) ?? [];
  const inits = (spec.initContainers as ContainerLike[] | undefined) ?? [];
  // A pod that mounts something there already (its own token volume) is left as it is.
  if ([...containers, ...inits].some(mountsToken)) return spec;
  const mount = { name: volumeName, readOnly: true, mountPath: TOKEN_MOUNT_PATH };
  const add = (c: ContainerLike) => ({ ...c, volumeMounts: [...(c.volumeMounts ?? []), mount] });
  const out: Record<string, unknown> = { ...spec, volumes: [...((spec.volumes as unknown[] | undefined) ?? []), apiAccessVolume(volumeName)], containers: containers.map(add) };
  if (spec.initContainers) out.initContainers = inits.map(add);
  return out;
}

const isNewPod = (a: AdmissionAttributes) => a.operation === 'CREATE' && !a.subresource && a.rt.group === '' && a.rt.resource === 'pods' && !!a.object;
const isMirrorPod = (a: AdmissionAttributes) => !!a.object?.metadata.annotations?.['kubernetes.io/config.mirror'];

export const ServiceAccount: AdmissionPlugin = {
  name: 'ServiceAccount',
  async admit(a, ctx) {
    if (!isNewPod(a) || isMirrorPod(a)) return undefined;
    const pod = a.object!;
    const spec = { ...(pod.spec as Record<string, unknown>) };
    const saName = (spec.serviceAccountName as string | undefined) || (spec.serviceAccount as string | undefined) || DEFAULT_SERVICE_ACCOUNT;
    spec.serviceAccountName = saName;
    spec.serviceAccount = saName;
    const namespace = a.namespace ?? pod.metadata.namespace ?? 'default';
    const sa = await ctx.store.get(ctx.tenant, resourceByName('serviceaccounts'), namespace, saName);
    if (!sa && saName !== DEFAULT_SERVICE_ACCOUNT) {
      const name = pod.metadata.name ?? '';
      throw forbidden(`pods "${name}" is forbidden: error looking up service account ${namespace}/${saName}: serviceaccount "${saName}" not found`, { name, kind: 'pods' });
    }
    const automount = (spec.automountServiceAccountToken as boolean | undefined) ?? (sa?.automountServiceAccountToken as boolean | undefined) ?? true;
    return { ...pod, spec: automount ? withApiAccessVolume(spec, apiAccessVolumeName()) : spec };
  },
};
