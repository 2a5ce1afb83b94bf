/**
 * What authorization costs in process (issue #16; run by hand: `npm run bench:authz`; figures go
 * to BENCHMARKS.md). Never a test assertion.
 *
 * One cluster with the default policy plus 1,000 roles (500 ClusterRoles, 500 Roles over 50
 * namespaces, 10 rules each) and 1,500 bindings (500 ClusterRoleBindings, 1,000 RoleBindings,
 * 3 subjects each: a user, a group, a ServiceAccount), built into the authorizer's snapshot
 * (shared/auth/rbac.ts) as the per-cluster cache holds it. Then, interleaved, requests of four
 * shapes are decided (rbacAuthorize), each timed (process.hrtime, µs):
 *   allowed-ns     a user allowed by a RoleBinding in the request's namespace
 *   allowed-crb    a user allowed by a ClusterRoleBinding
 *   denied         a user with 20 groups and nothing that allows: every applicable rule visited
 *   path           a non-resource request (/apis) allowed through system:discovery
 * and the cache's hit path (RbacCache.get within its staleness window, a fake store behind it).
 * Also timed: building the snapshot from the objects (what a reload costs in CPU after the
 * generation moved; the four list queries come on top).
 */
import { Command } from 'commander';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from '../shared/auth/bootstrap-policy';
import { buildRbacData, rbacAuthorize, type AuthzAttributes } from '../shared/auth/rbac';
import { RbacCache } from '../shared/auth/rbac-cache';
import type { Binding, PolicyRule, Role } from '../shared/schemas/rbac';
import type { ObjectStore } from '../shared/store/store';

const opts = new Command().option('--iterations <n>', 'decisions per shape', '20000').option('--warmup <n>', 'warm-up decisions per shape', '2000').parse().opts<{ iterations: string; warmup: string }>();
const G = 'rbac.authorization.k8s.io';
const RESOURCES = ['pods', 'configmaps', 'secrets', 'services', 'deployments', 'jobs', 'leases', 'events', 'widgets', 'gadgets'];

function rules(i: number): PolicyRule[] {
  return RESOURCES.map((r, j) => ({ verbs: j % 2 ? ['get', 'list', 'watch'] : ['create', 'update'], apiGroups: [j % 3 ? '' : `g${i % 7}.example.com`], resources: [`${r}${i % 5 === 0 ? '' : `-${i}`}`] }));
}

function build() {
  const clusterRoles: Role[] = [...(bootstrapClusterRoles() as unknown as Role[])];
  const roles: Role[] = [];
  for (let i = 0; i < 500; i++) clusterRoles.push({ metadata: { name: `cr-${i}` }, rules: rules(i) });
  for (let i = 0; i < 500; i++) roles.push({ metadata: { name: `r-${i}`, namespace: `ns-${i % 50}` }, rules: rules(i) });
  const subjects = (i: number): Binding['subjects'] => [
    { kind: 'User', apiGroup: G, name: `user-${i}` },
    { kind: 'Group', apiGroup: G, name: `group-${i % 100}` },
    { kind: 'ServiceAccount', name: `sa-${i}`, namespace: `ns-${i % 50}` },
  ];
  const clusterRoleBindings: Binding[] = [...(bootstrapClusterRoleBindings() as unknown as Binding[])];
  for (let i = 0; i < 500; i++) clusterRoleBindings.push({ metadata: { name: `crb-${i}` }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: `cr-${i}` }, subjects: subjects(i) });
  const roleBindings: Binding[] = [];
  for (let i = 0; i < 1000; i++)
    roleBindings.push({ metadata: { name: `rb-${i}`, namespace: `ns-${i % 50}` }, roleRef: { apiGroup: G, kind: i % 2 ? 'Role' : 'ClusterRole', name: i % 2 ? `r-${i % 500}` : `cr-${i % 500}` }, subjects: subjects(i + 7) });
  return { clusterRoles, roles, clusterRoleBindings, roleBindings };
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main() {
  const iterations = Number(opts.iterations);
  const warmup = Number(opts.warmup);
  const objects = build();
  const buildTimes: number[] = [];
  let data = buildRbacData(objects);
  for (let i = 0; i < 20; i++) {
    const t = process.hrtime.bigint();
    data = buildRbacData(objects);
    buildTimes.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const groups20 = Array.from({ length: 20 }, (_, i) => `other-${i}`).concat('system:authenticated');
  // rb-i names subjects(i + 7): user-12 is bound by rb-5, a RoleBinding (odd i) to Role r-5 in ns-5.
  const shapes: Record<string, AuthzAttributes> = {
    'allowed-ns': { user: 'user-12', groups: ['system:authenticated'], verb: 'get', resourceRequest: true, apiGroup: '', resource: 'configmaps', namespace: 'ns-5' },
    'allowed-crb': { user: 'user-10', groups: ['system:authenticated'], verb: 'list', resourceRequest: true, apiGroup: '', resource: 'configmaps', namespace: 'ns-3' },
    denied: { user: 'mallory', groups: groups20, verb: 'delete', resourceRequest: true, apiGroup: 'apps', resource: 'deployments', namespace: 'ns-7', name: 'x' },
    path: { user: 'user-1', groups: ['system:authenticated'], verb: 'get', resourceRequest: false, path: '/apis' },
  };
  for (const [name, a] of Object.entries(shapes)) process.stderr.write(`${name}: ${rbacAuthorize(data, a).allowed ? 'allowed' : 'denied'}\n`);
  const fakeStore = { rbacGeneration: () => Promise.resolve(1), list: () => Promise.resolve({ items: [], resourceVersion: 0 }) } as unknown as ObjectStore;
  const cache = new RbacCache();
  (cache as unknown as { entries: Map<string, unknown> }).entries.set('t', { data, generation: 1, checkedAt: Number.MAX_SAFE_INTEGER / 2, loadedAt: Number.MAX_SAFE_INTEGER / 2 });
  const times: Record<string, number[]> = Object.fromEntries([...Object.keys(shapes), 'cache-hit'].map((k) => [k, [] as number[]]));
  for (let i = 0; i < warmup + iterations; i++) {
    for (const [name, a] of Object.entries(shapes)) {
      const t = process.hrtime.bigint();
      rbacAuthorize(data, a);
      const us = Number(process.hrtime.bigint() - t) / 1e3;
      if (i >= warmup) times[name]!.push(us);
    }
    const t = process.hrtime.bigint();
    await cache.get(fakeStore, 't');
    const us = Number(process.hrtime.bigint() - t) / 1e3;
    if (i >= warmup) times['cache-hit']!.push(us);
  }
  console.log(`1,000 roles (500 ClusterRoles, 500 Roles), 1,500 bindings + the default policy; ${iterations} decisions per shape after ${warmup} warm-up\n`);
  console.log('| shape | p50 µs | p99 µs | max µs |');
  console.log('|---|---|---|---|');
  for (const [name, xs] of Object.entries(times)) {
    xs.sort((a, b) => a - b);
    console.log(`| ${name} | ${pct(xs, 50).toFixed(1)} | ${pct(xs, 99).toFixed(1)} | ${xs[xs.length - 1]!.toFixed(1)} |`);
  }
  buildTimes.sort((a, b) => a - b);
  console.log(`\nsnapshot build (reload CPU): p50 ${pct(buildTimes, 50).toFixed(2)} ms, max ${buildTimes[buildTimes.length - 1]!.toFixed(2)} ms`);
}

void main();
