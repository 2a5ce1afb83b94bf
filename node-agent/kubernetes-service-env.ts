/**
 * The `kubernetes` Service's environment variables, which the kubelet gives every container
 * whatever enableServiceLinks says (pkg/kubelet/kubelet_pods.go getServiceEnvVarMap: the master
 * service's variables are always added), in the Docker-link form of
 * pkg/kubelet/envvars/envvars.go FromServices: the ClusterIP and port 443 named `https`.
 */
import { loadConfig } from '../shared/config';
import { firstAddress, parseCidr } from '../shared/services/ip';

/** Where the `kubernetes` Service is: its ClusterIP (the service range's first address) and port. */
export interface KubernetesServiceAddress {
  readonly host: string;
  readonly port: number;
}

/** The `kubernetes` Service of a cluster configured as `env` says (STRATUS_SERVICE_CIDR). */
export function kubernetesServiceAddress(env: NodeJS.ProcessEnv = process.env): KubernetesServiceAddress {
  return { host: firstAddress(parseCidr(loadConfig(env).serviceCidr ?? '10.96.0.0/12')), port: 443 };
}

/** KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT(_HTTPS), KUBERNETES_PORT(_443_TCP*). */
export function kubernetesServiceEnv({ host, port }: KubernetesServiceAddress): Record<string, string> {
  const url = `tcp://${host}:${port}`;
  const prefix = `KUBERNETES_PORT_${port}_TCP`;
  return {
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: String(port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(port),
    KUBERNETES_PORT: url,
    [prefix]: url,
    [`${prefix}_PROTO`]: 'tcp',
    [`${prefix}_PORT`]: String(port),
    [`${prefix}_ADDR`]: host,
  };
}
