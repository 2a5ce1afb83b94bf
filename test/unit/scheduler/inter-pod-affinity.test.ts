import { describe, expect, it } from 'vitest';
import { InterPodAffinity, InterPodAffinityScore } from '../../../functions/scheduler/plugins/inter-pod-affinity';
import { at, cluster, node, pod } from './fixtures';

const zoneA = node('a1', { labels: { zone: 'a' } });
const zoneA2 = node('a2', { labels: { zone: 'a' } });
const zoneB = node('b1', { labels: { zone: 'b' } });
const term = (app: string, topologyKey: string) => ({ labelSelector: { matchLabels: { app } }, topologyKey });
const affinity = (kind: 'podAffinity' | 'podAntiAffinity', ...terms: object[]) => ({ affinity: { [kind]: { requiredDuringSchedulingIgnoredDuringExecution: terms } } });

describe('InterPodAffinity filter', () => {
  const db = pod('db', {}, { nodeName: 'a1', labels: { app: 'db' } });
  it.each([
    ['affinity to a pod in the same zone', affinity('podAffinity', term('db', 'zone')), 'a2', true, undefined],
    ['affinity, other zone', affinity('podAffinity', term('db', 'zone')), 'b1', false, "node(s) didn't match pod affinity rules"],
    ['affinity by hostname', affinity('podAffinity', term('db', 'kubernetes.io/hostname')), 'a2', false, "node(s) didn't match pod affinity rules"],
    ['anti-affinity, same zone', affinity('podAntiAffinity', term('db', 'zone')), 'a2', false, "node(s) didn't match pod anti-affinity rules"],
    ['anti-affinity, other zone', affinity('podAntiAffinity', term('db', 'zone')), 'b1', true, undefined],
    ['anti-affinity by hostname, same zone other host', affinity('podAntiAffinity', term('db', 'kubernetes.io/hostname')), 'a2', true, undefined],
  ])('%s', (_n, spec, target, want, reason) => {
    // Prepare
    const c = cluster([zoneA, zoneA2, zoneB], [db]);
    // Act
    const r = InterPodAffinity.filter(pod('p', spec, { labels: { app: 'web' } }), at(c, target), c, new Map());
    // Assess
    expect(r.fits).toBe(want);
    if (reason) expect(r.reasons).toEqual([reason]);
  });

  it("respects existing pods' anti-affinity against the incoming pod", () => {
    // Prepare
    const loner = pod('loner', affinity('podAntiAffinity', term('web', 'zone')), { nodeName: 'a1', labels: { app: 'loner' } });
    const c = cluster([zoneA, zoneA2, zoneB], [loner]);
    const web = pod('w', {}, { labels: { app: 'web' } });
    // Act
    const same = InterPodAffinity.filter(web, at(c, 'a2'), c, new Map());
    const other = InterPodAffinity.filter(web, at(c, 'b1'), c, new Map());
    // Assess
    expect(same.reasons).toEqual(["node(s) didn't satisfy existing pods anti-affinity rules"]);
    expect(other.fits).toBe(true);
  });

  it('lets the first pod of a self-affine group go anywhere', () => {
    const c = cluster([zoneA, zoneB]);
    const r = InterPodAffinity.filter(pod('p', affinity('podAffinity', term('web', 'zone')), { labels: { app: 'web' } }), at(c, 'b1'), c, new Map());
    expect(r.fits).toBe(true);
  });

  it('only counts pods of the namespaces the term names', () => {
    const c = cluster([zoneA, zoneA2], [pod('db', {}, { nodeName: 'a1', labels: { app: 'db' }, namespace: 'other' })]);
    const r = InterPodAffinity.filter(pod('p', affinity('podAntiAffinity', term('db', 'zone'))), at(c, 'a2'), c, new Map());
    expect(r.fits).toBe(true);
  });
});

describe('InterPodAffinity score', () => {
  it('prefers the zone of preferred affinity and avoids that of preferred anti-affinity', () => {
    // Prepare
    const c = cluster([zoneA, zoneB], [pod('cache', {}, { nodeName: 'a1', labels: { app: 'cache' } }), pod('noisy', {}, { nodeName: 'b1', labels: { app: 'noisy' } })]);
    const p = pod('p', {
      affinity: {
        podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: term('cache', 'zone') }] },
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: term('noisy', 'zone') }] },
      },
    });
    const state = new Map();
    // Act
    const raw = ['a1', 'b1'].map((n) => InterPodAffinityScore.score(p, at(c, n), c, state));
    // Assess
    expect(raw).toEqual([50, -50]);
    expect(InterPodAffinityScore.normalize!(raw, p)).toEqual([100, 0]);
  });
});
