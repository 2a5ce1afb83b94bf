import { describe, expect, it } from 'vitest';
import { NodePorts } from '../../../functions/scheduler/plugins/node-ports';
import { at, cluster, node, pod } from './fixtures';

const withPort = (hostPort: number, protocol = 'TCP', hostIP?: string) => ({
  containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80, hostPort, protocol, ...(hostIP ? { hostIP } : {}) }] }],
});

describe('NodePorts', () => {
  it.each([
    ['no host ports', {}, true],
    ['a free port', withPort(8081), true],
    ['the same port', withPort(8080), false],
    ['the same port, other protocol', withPort(8080, 'UDP'), true],
    ['the same port on a specific IP clashes with 0.0.0.0', withPort(8080, 'TCP', '10.0.0.1'), false],
  ])('%s', (_n, spec, want) => {
    // Prepare
    const c = cluster([node('n')], [pod('web', withPort(8080), { nodeName: 'n' })]);
    // Act
    const r = NodePorts.filter(pod('p', spec), at(c, 'n'), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    if (!want) expect(r.reasons).toEqual(["node(s) didn't have free ports for the requested pod ports"]);
  });
});
