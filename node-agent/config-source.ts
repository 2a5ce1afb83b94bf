/**
 * ConfigSource over the Kubernetes API, with the node's own credentials (which may `get`
 * ConfigMaps and Secrets by name, never list them).
 */
import { z } from 'zod';
import { isNotFound, type KubeApiClient } from './api-client';
import type { ConfigData, ConfigSource } from './env';
import { TokenManager, type TokenPod, type TokenSource } from './service-account-tokens';
import { ClaimViewSchema, PersistentVolumeViewSchema, type ClaimSource, type ClaimView, type PersistentVolumeView } from './volumes';

const ConfigMapSchema = z.looseObject({
  data: z.record(z.string(), z.string()).nullish(),
  binaryData: z.record(z.string(), z.string()).nullish(),
});
const SecretSchema = z.looseObject({ data: z.record(z.string(), z.string()).nullish() });

const path = (resource: string, namespace: string, name: string) =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}/${encodeURIComponent(name)}`;

export class ApiConfigSource implements ConfigSource, ClaimSource, TokenSource {
  private readonly tokens: TokenManager;

  constructor(private readonly api: KubeApiClient) {
    this.tokens = new TokenManager(api);
  }

  /** A bound service account token for a pod of this node (projected serviceAccountToken volumes). */
  serviceAccountToken(pod: TokenPod, audience: string | undefined, expirationSeconds: number): Promise<string> {
    return this.tokens.serviceAccountToken(pod, audience, expirationSeconds);
  }

  async configMap(namespace: string, name: string): Promise<ConfigData | undefined> {
    if (!name) return undefined;
    try {
      const cm = await this.api.get(path('configmaps', namespace, name), ConfigMapSchema);
      const raw = Object.fromEntries(Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      const binary = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.toString('utf8')]));
      const text = Object.fromEntries(Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'utf8')]));
      return { data: { ...binary, ...(cm.data ?? {}) }, bytes: { ...raw, ...text } };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** What pods mount as persistentVolumeClaim volumes (node credentials may get both by name). */
  async persistentVolumeClaim(namespace: string, name: string): Promise<ClaimView | undefined> {
    if (!name) return undefined;
    try {
      return await this.api.get(path('persistentvolumeclaims', namespace, name), ClaimViewSchema);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async persistentVolume(name: string): Promise<PersistentVolumeView | undefined> {
    if (!name) return undefined;
    try {
      return await this.api.get(`/api/v1/persistentvolumes/${encodeURIComponent(name)}`, PersistentVolumeViewSchema);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async secret(namespace: string, name: string): Promise<ConfigData | undefined> {
    if (!name) return undefined;
    try {
      const s = await this.api.get(path('secrets', namespace, name), SecretSchema);
      const bytes = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      return { data: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, v.toString('utf8')])), bytes };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }
}
