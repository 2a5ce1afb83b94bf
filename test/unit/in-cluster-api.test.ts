/**
 * The pure parts of the API's pod-facing side (issues #15, #16): the `kubernetes` Service's
 * container variables and how they layer under a container's own env, the serving certificate's
 * names, docker0's address from `ip -j`, and the host ports an agent opens to its pods.
 */
import { describe, expect, it } from 'vitest';
import { makeEnvironment, type ConfigSource } from '../../node-agent/env';
import { kubernetesServiceAddress, kubernetesServiceEnv } from '../../node-agent/kubernetes-service-env';
import { apiHostPorts } from '../../node-agent/main';
import { tableScript } from '../../node-agent/network/node-bridge';
import type { Pod } from '../../node-agent/types';
import { ipv4Addresses } from '../../infra/local/pod-facing';
import { coversNames, makeCertificates, servingNames } from '../../infra/local/stack';

const none: ConfigSource = { configMap: async () => undefined, secret: async () => undefined };
const pod = (env: unknown[], enableServiceLinks?: boolean): Pod => ({
  metadata: { name: 'web', namespace: 'shop', uid: 'u-1' },
  spec: { ...(enableServiceLinks === undefined ? {} : { enableServiceLinks }), containers: [{ name: 'main', image: 'x', env: env as Pod['spec']['containers'][0]['env'] }] },
});
const ctx = { hostIP: '192.0.2.1', nodeCpuCores: 1, nodeMemoryBytes: 2 ** 30 };

describe('the kubernetes Service\'s container variables', () => {
  it('are the Docker-link form of 10.96.0.1:443 (kubelet envvars.FromServices)', () => {
    // Act
    const env = kubernetesServiceEnv({ host: '10.96.0.1', port: 443 });
    // Assess
    expect(env).toEqual({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
    });
  });

  it.each([
    ['default range', {}, '10.96.0.1'],
    ['STRATUS_SERVICE_CIDR', { STRATUS_SERVICE_CIDR: '10.100.0.0/16' }, '10.100.0.1'],
  ])('take the service range\'s first address (%s)', (_name, env, host) => {
    expect(kubernetesServiceAddress(env)).toEqual({ host, port: 443 });
  });

  it.each([
    ['are there with enableServiceLinks false', [], false, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }],
    ['lose to the container\'s own env', [{ name: 'KUBERNETES_SERVICE_HOST', value: '172.17.0.1' }], true, { KUBERNETES_SERVICE_HOST: '172.17.0.1', KUBERNETES_SERVICE_PORT: '443' }],
    ['expand in the container\'s env', [{ name: 'API', value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)' }], undefined, { API: 'https://10.96.0.1:443' }],
  ])('%s', async (_name, env, links, want) => {
    // Act
    const got = await makeEnvironment(pod(env, links), pod(env, links).spec.containers[0]!, { ...ctx, serviceEnv: kubernetesServiceEnv({ host: '10.96.0.1', port: 443 }) }, none);
    // Assess
    const map = Object.fromEntries(got.env.map((e) => [e.name, e.value]));
    expect(map).toMatchObject(want);
    expect(got.env.filter((e) => e.name === 'KUBERNETES_SERVICE_HOST')).toHaveLength(1);
  });
});

describe('the serving certificate', () => {
  it('names localhost, 127.0.0.1, the kubernetes Service\'s ClusterIP and DNS names, and the pod-facing address', async () => {
    // Prepare
    const names = servingNames('172.17.0.1');
    // Act
    const { cert } = await makeCertificates(names);
    // Assess
    expect(names).toEqual({
      dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ips: ['127.0.0.1', '10.96.0.1', '172.17.0.1'],
    });
    expect(coversNames(cert, names)).toBe(true);
    expect(coversNames(cert, servingNames('172.18.0.1'))).toBe(false);
  });

  it('made before the pod-facing address does not cover the new names (so a persistent stack remakes it)', async () => {
    const { cert } = await makeCertificates({ dns: ['localhost'], ips: ['127.0.0.1'] });
    expect(coversNames(cert, servingNames())).toBe(false);
  });
});

describe('docker0\'s address', () => {
  it.each([
    ['an address', '[{"ifname":"docker0","addr_info":[{"family":"inet","local":"172.17.0.1","prefixlen":16}]}]', ['172.17.0.1']],
    ['no address', '[{"ifname":"docker0","addr_info":[]}]', []],
    ['no such device', '', []],
  ])('%s', (_name, json, want) => {
    expect(ipv4Addresses(json)).toEqual(want);
  });
});

describe('the host ports an agent opens to its pods', () => {
  it.each([
    ['the stack\'s pod-facing API address and port', { STRATUS_API_POD_ADDRESS: '172.17.0.1', STRATUS_API_POD_PORT: '41234' }, [{ address: '172.17.0.1', protocol: 'tcp', port: 41234 }]],
    ['none when the stack does not say where the API is', {}, []],
    ['none without a port', { STRATUS_API_POD_ADDRESS: '172.17.0.1' }, []],
  ])('%s', (_name, env, want) => {
    expect(apiHostPorts(env)).toEqual(want);
  });

  it('land in the node table\'s host_ports set, and nothing else is accepted from pods to the host', () => {
    // Act
    const t = tableScript('10.128.5.0/24', '10.128.0.0/12', apiHostPorts({ STRATUS_API_POD_ADDRESS: '172.17.0.1', STRATUS_API_POD_PORT: '41234' }));
    // Assess
    expect(t.body).toContain('elements = { 172.17.0.1 . tcp . 41234 }');
    const input = t.body.slice(t.body.indexOf('chain input'), t.body.indexOf('chain postrouting'));
    expect(input.split('\n').filter((l) => /\saccept$/.test(l))).toHaveLength(2); // replies, and @host_ports
    expect(input).toContain('iifname "stratus-0a8005" drop');
  });
});
