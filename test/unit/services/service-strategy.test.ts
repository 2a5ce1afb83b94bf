import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../../shared/resources';
import { resourceByName } from '../../../shared/resources';
import { defaultService, prepareServiceUpdate, validateService, portNameProblem } from '../../../shared/services/validation';
import { endpointSlices, endpoints, services } from '../../../shared/printers/service';
import { validateEndpoints, validateEndpointSlice } from '../../../shared/services/endpoints-validation';
import { endpointIpProblems, inRange, parseCidr, firstAddress } from '../../../shared/services/ip';
import { serviceRanges } from '../../../shared/services/allocator';
import { patchTableOf } from '../../../shared/resources';
import { kubernetesServiceObjects } from '../../../shared/kubernetes-service';

const svc = (spec: Record<string, unknown>, name = 'web'): KubeObject => ({ metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T11:55:00Z' }, spec });
const NOW = Date.parse('2026-01-01T12:00:00Z');
const fields = (o: KubeObject, old?: KubeObject) => validateService(defaultService(o), old && defaultService(old)).map((c) => `${c.field}: ${c.message}`);

describe('Service defaults (SetDefaults_Service and the storage IP family defaults)', () => {
  it.each([
    ['ClusterIP by default, TCP, targetPort = port', { ports: [{ port: 80 }] }, { type: 'ClusterIP', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] }],
    ['a named targetPort stays', { ports: [{ port: 80, targetPort: 'http' }] }, { ports: [{ port: 80, protocol: 'TCP', targetPort: 'http' }] }],
    ['ClientIP affinity gets the 10800 s timeout', { sessionAffinity: 'ClientIP', ports: [{ port: 80 }] }, { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } }],
    ['NodePort gets externalTrafficPolicy Cluster', { type: 'NodePort', ports: [{ port: 80 }] }, { externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' }],
    ['LoadBalancer allocates node ports by default', { type: 'LoadBalancer', ports: [{ port: 80 }] }, { externalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true }],
    ['clusterIPs mirror clusterIP', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] }, { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] }],
    ['clusterIP mirrors clusterIPs', { clusterIPs: ['10.96.0.10'], ports: [{ port: 80 }] }, { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] }],
    ['headless without selector: RequireDualStack (single family here)', { clusterIP: 'None' }, { clusterIPs: ['None'], ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4'] }],
    ['headless with selector: SingleStack', { clusterIP: 'None', selector: { app: 'x' } }, { ipFamilyPolicy: 'SingleStack' }],
  ])('%s', (_name, spec, want) => {
    // Act
    const out = defaultService(svc(spec)).spec;
    // Assess
    expect(out).toMatchObject(want);
  });

  it('ExternalName gets no IP family nor internalTrafficPolicy', () => {
    // Act
    const out = defaultService(svc({ type: 'ExternalName', externalName: 'example.com' })).spec as Record<string, unknown>;
    // Assess
    expect(out.ipFamilies).toBeUndefined();
    expect(out.ipFamilyPolicy).toBeUndefined();
    expect(out.internalTrafficPolicy).toBeUndefined();
  });
});

describe('Service validation (ValidateService, Kubernetes words and paths)', () => {
  it.each([
    ['valid ClusterIP', { ports: [{ port: 80 }] }, []],
    ['valid headless without ports', { clusterIP: 'None' }, []],
    ['valid ExternalName', { type: 'ExternalName', externalName: 'db.example.com' }, []],
    ['ports are required', { selector: { a: 'b' } }, ['spec.ports: Required value']],
    ['several ports must be named', { ports: [{ port: 80 }, { port: 81, name: 'b' }] }, ['spec.ports[0].name: Required value']],
    ['duplicate port names', { ports: [{ port: 80, name: 'a' }, { port: 81, name: 'a' }] }, ['spec.ports[1].name: Duplicate value: "a"']],
    ['port out of range', { ports: [{ port: 70000 }] }, ['spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive', 'spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive']],
    ['unsupported protocol', { ports: [{ port: 80, protocol: 'ICMP' }] }, ['spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"']],
    ['bad targetPort name', { ports: [{ port: 80, targetPort: 'Not_OK' }] }, ['spec.ports[0].targetPort: Invalid value: "Not_OK": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']],
    ['unsupported type', { type: 'Foo', ports: [{ port: 80 }] }, ['spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"']],
    ['nodePort on a ClusterIP Service', { ports: [{ port: 80, nodePort: 30080 }] }, ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]],
    ['ExternalName needs a name', { type: 'ExternalName' }, ['spec.externalName: Required value']],
    ['ExternalName takes no clusterIP', { type: 'ExternalName', externalName: 'a.b', clusterIP: '10.96.0.5' }, ['spec.clusterIPs: Forbidden: may not be set for ExternalName services']],
    ['headless NodePort', { type: 'NodePort', clusterIP: 'None', ports: [{ port: 80 }] }, ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]],
    ['bad clusterIP', { clusterIP: 'abc', ports: [{ port: 80 }] }, ['spec.clusterIPs[0]: Invalid value: "abc": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']],
    ['IPv6 is not configured', { ipFamilies: ['IPv6'], ports: [{ port: 80 }] }, ['spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster']],
    ['unsupported session affinity', { sessionAffinity: 'Sticky', ports: [{ port: 80 }] }, ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"']],
    ['affinity timeout too long', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 90000 } }, ports: [{ port: 80 }] }, ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 90000: must be greater than 0 and less than 86400']],
    ['externalTrafficPolicy on ClusterIP', { externalTrafficPolicy: 'Local', ports: [{ port: 80 }] }, ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services']],
    ['unsupported internalTrafficPolicy', { internalTrafficPolicy: 'Nearby', ports: [{ port: 80 }] }, ['spec.internalTrafficPolicy: Unsupported value: "Nearby": supported values: "Cluster", "Local"']],
  ])('%s', (_name, spec, want) => {
    // Act
    const got = fields(svc(spec));
    // Assess
    expect(got).toEqual(want);
  });

  it('spec.clusterIP may not change once set', () => {
    // Prepare
    const old = svc({ clusterIP: '10.96.0.10', ports: [{ port: 80 }] });
    // Act
    const got = fields(svc({ clusterIP: '10.96.0.11', ports: [{ port: 80 }] }), old);
    // Assess
    expect(got).toEqual(['spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set']);
  });

  it.each([
    ['http', undefined],
    ['a-very-long-port-name', 'must be no more than 15 characters'],
    ['80', 'must contain at least one letter (a-z)'],
    ['a--b', 'must not contain consecutive hyphens'],
    ['-ab', 'must not begin or end with a hyphen'],
  ])('port name %s', (name, want) => {
    // Assess
    expect(portNameProblem(name)).toBe(want);
  });
});

describe('Service updates (patchAllocatedValues, dropTypeDependentFields)', () => {
  it('an update without clusterIP or nodePort keeps the allocated ones', () => {
    // Prepare
    const old = defaultService(svc({ type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }] }));
    // Act
    const next = prepareServiceUpdate(defaultService(svc({ type: 'NodePort', ports: [{ port: 80 }] })), old);
    // Assess
    expect(next.spec).toMatchObject({ clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080 }] });
    expect(validateService(next, old)).toEqual([]);
  });

  it('NodePort to ClusterIP drops the unchanged nodePorts and externalTrafficPolicy', () => {
    // Prepare
    const old = defaultService(svc({ type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }] }));
    // Act
    const next = prepareServiceUpdate(defaultService({ ...old, spec: { ...(old.spec as object), type: 'ClusterIP' } }), old);
    // Assess
    expect(next.spec).toMatchObject({ type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] });
    expect((next.spec as { ports: { nodePort?: number }[] }).ports[0]!.nodePort).toBeUndefined();
    expect((next.spec as { externalTrafficPolicy?: string }).externalTrafficPolicy).toBeUndefined();
    expect(validateService(next, old)).toEqual([]);
  });

  it('ClusterIP to ExternalName drops the unchanged clusterIP', () => {
    // Prepare
    const old = defaultService(svc({ clusterIP: '10.96.0.10', ports: [{ port: 80 }] }));
    // Act
    const next = prepareServiceUpdate(defaultService({ ...old, spec: { ...(old.spec as object), type: 'ExternalName', externalName: 'a.example.com' } }), old);
    // Assess
    expect(validateService(next, old)).toEqual([]);
    expect((next.spec as { clusterIP?: string }).clusterIP).toBeUndefined();
  });
});

describe('Service strategy', () => {
  it('is served as Kubernetes serves it: svc, status subresource, merge key port', () => {
    // Prepare
    const rt = resourceByName('services');
    // Assess
    expect(rt.shortNames).toEqual(['svc']);
    expect(rt.subresources).toEqual(['status', 'proxy']);
    expect(patchTableOf(rt)['spec.ports']).toEqual({ strategy: 'merge', mergeKey: 'port' });
    expect(rt.prepareForCreate!(svc({ ports: [] }) as KubeObject).status).toEqual({ loadBalancer: {} });
  });
});

describe('kubectl get columns', () => {
  it.each([
    ['ClusterIP', { type: 'ClusterIP', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, protocol: 'TCP' }], selector: { app: 'web', tier: 'a' } }, {}, ['web', 'ClusterIP', '10.96.0.10', '<none>', '80/TCP', '5m', 'app=web,tier=a']],
    ['NodePort', { type: 'NodePort', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, nodePort: 30053, protocol: 'UDP' }] }, {}, ['web', 'NodePort', '10.96.0.10', '<none>', '80:30080/TCP,53:30053/UDP', '5m', '<none>']],
    ['LoadBalancer pending', { type: 'LoadBalancer', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] }, {}, ['web', 'LoadBalancer', '10.96.0.10', '<pending>', '80:30080/TCP', '5m', '<none>']],
    ['LoadBalancer with ingress', { type: 'LoadBalancer', clusterIPs: ['10.96.0.10'], ports: [] }, { loadBalancer: { ingress: [{ ip: '192.168.1.5' }] } }, ['web', 'LoadBalancer', '10.96.0.10', '192.168.1.5', '<none>', '5m', '<none>']],
    ['headless', { type: 'ClusterIP', clusterIPs: ['None'] }, {}, ['web', 'ClusterIP', 'None', '<none>', '<none>', '5m', '<none>']],
    ['ExternalName', { type: 'ExternalName', externalName: 'db.example.com', ports: [] }, {}, ['web', 'ExternalName', '<none>', 'db.example.com', '<none>', '5m', '<none>']],
  ])('service %s', (_name, spec, status, want) => {
    // Act
    const cells = services.cells({ ...svc(spec), status }, NOW);
    // Assess
    expect(services.columns.map((c) => c.name)).toEqual(['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector']);
    expect(services.columns.map((c) => c.priority)).toEqual([0, 0, 0, 0, 0, 0, 1]);
    expect(cells).toEqual(want);
  });

  it.each([
    ['none', [], '<none>'],
    ['two', [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }] }], '10.0.0.1:80,10.0.0.2:80'],
    ['more than three', [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 81 }] }], '10.0.0.1:80,10.0.0.2:80,10.0.0.1:81 + 1 more...'],
    ['no ports', [{ addresses: [{ ip: '10.0.0.1' }] }], '10.0.0.1'],
  ])('endpoints %s', (_name, subsets, want) => {
    // Act
    const cells = endpoints.cells({ metadata: { name: 'web', creationTimestamp: '2026-01-01T11:55:00Z' }, subsets }, NOW);
    // Assess
    expect(endpoints.columns.map((c) => c.name)).toEqual(['Name', 'Endpoints', 'Age']);
    expect(cells).toEqual(['web', want, '5m']);
  });

  it.each([
    ['empty', [], [], '<unset>', '<unset>'],
    ['four', [{ port: 80 }, { name: 'x' }], [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.4'] }], '80,x', '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...'],
  ])('endpointslices %s', (_name, ports, eps, wantPorts, wantEndpoints) => {
    // Act
    const cells = endpointSlices.cells({ metadata: { name: 'web-abc', creationTimestamp: '2026-01-01T11:55:00Z' }, addressType: 'IPv4', ports, endpoints: eps }, NOW);
    // Assess
    expect(endpointSlices.columns.map((c) => c.name)).toEqual(['Name', 'AddressType', 'Ports', 'Endpoints', 'Age']);
    expect(cells).toEqual(['web-abc', 'IPv4', wantPorts, wantEndpoints, '5m']);
  });
});

describe('endpoint addresses (ValidateEndpointIP)', () => {
  it.each([
    ['10.1.2.3', []],
    ['0.0.0.0', ['may not be unspecified (0.0.0.0)']],
    ['127.0.0.1', ['may not be in the loopback range (127.0.0.0/8, ::1/128)']],
    ['169.254.169.254', ['may not be in the link-local range (169.254.0.0/16, fe80::/10)']],
    ['224.0.0.5', ['may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)']],
    ['nope', ['must be a valid IP address']],
  ])('%s', (ip, want) => {
    // Assess
    expect(endpointIpProblems(ip)).toEqual(want);
  });

  it('Endpoints reject a loopback address and a subset without addresses', () => {
    // Act
    const got = validateEndpoints({ metadata: { name: 'x' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 80, protocol: 'TCP' }] }, { ports: [{ port: 80, protocol: 'TCP' }] }] });
    // Assess
    expect(got.map((c) => `${c.field}: ${c.message}`)).toEqual([
      'subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      'subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`',
    ]);
  });

  it('EndpointSlices reject link-local addresses, bad address types and a changed addressType', () => {
    // Act
    const bad = validateEndpointSlice({ metadata: { name: 'x' }, addressType: 'IPv4', endpoints: [{ addresses: ['169.254.1.1'] }, { addresses: [] }] });
    const type = validateEndpointSlice({ metadata: { name: 'x' }, addressType: 'Foo', endpoints: [] });
    const changed = validateEndpointSlice({ metadata: { name: 'x' }, addressType: 'IPv6', endpoints: [] }, { metadata: { name: 'x' }, addressType: 'IPv4' });
    // Assess
    expect(bad.map((c) => `${c.field}: ${c.message}`)).toEqual([
      'endpoints[0].addresses[0]: Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
      'endpoints[1].addresses: Required value: must contain at least 1 address',
    ]);
    expect(type.map((c) => `${c.field}: ${c.message}`)).toEqual(['addressType: Unsupported value: "Foo": supported values: "FQDN", "IPv4", "IPv6"']);
    expect(changed.map((c) => `${c.field}: ${c.message}`)).toEqual(['addressType: Invalid value: "IPv6": field is immutable']);
  });
});

describe('service ranges', () => {
  it('10.96.0.0/12 by default: 10.96.0.1 first, network and broadcast excluded', () => {
    // Prepare
    const { ips, ports } = serviceRanges({});
    // Assess
    expect(firstAddress(ips)).toBe('10.96.0.1');
    expect(inRange(ips, '10.96.0.0')).toBe(false);
    expect(inRange(ips, '10.111.255.254')).toBe(true);
    expect(inRange(ips, '10.111.255.255')).toBe(false);
    expect(inRange(ips, '10.112.0.1')).toBe(false);
    expect(ports).toEqual({ first: 30000, last: 32767 });
  });

  it('rejects malformed ranges', () => {
    // Assess
    expect(() => parseCidr('10.96.0.0')).toThrow();
    expect(() => parseCidr('10.96.0.0/31')).toThrow();
    expect(() => serviceRanges({ nodePortRange: '32767-30000' })).toThrow();
    expect(parseCidr('10.96.5.7/12').cidr).toBe('10.96.0.0/12');
  });
});

describe('the kubernetes Service', () => {
  it('takes the first address of the configured range and the configured pod-facing API address', () => {
    // Act
    const { service, endpoints: ep, slice } = kubernetesServiceObjects({ serviceCidr: '10.100.0.0/16', apiPodAddress: '192.168.5.1', apiPodPort: 8443 });
    // Assess
    expect(service.spec).toMatchObject({ clusterIP: '10.100.0.1', clusterIPs: ['10.100.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 }] });
    expect(validateService(service)).toEqual([]);
    expect(validateEndpoints(ep)).toEqual([]);
    expect(validateEndpointSlice(slice)).toEqual([]);
    expect(ep.subsets).toEqual([{ addresses: [{ ip: '192.168.5.1' }], ports: [{ name: 'https', port: 8443, protocol: 'TCP' }] }]);
    expect(slice.metadata.labels).toEqual({ 'kubernetes.io/service-name': 'kubernetes' });
  });
});
