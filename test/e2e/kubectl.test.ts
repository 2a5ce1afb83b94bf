import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, uniqueName } from '../helpers/api';
import { kubectl as runKubectl } from '../helpers/kubectl';

/*
 * Issue #3: the real kubectl (v1.32, /usr/bin/kubectl) against the local stack, with default
 * flags only, as a user would type the commands. kubectl finds out by itself what the server
 * speaks (aggregated discovery, OpenAPI v3, Table, protobuf bodies from typed commands).
 * Pods that need not run use a schedulerName no scheduler serves, to keep the suite fast;
 * one pod really runs on the test node agent.
 */

const IMAGE = 'stratus-test/busybox:1.36';
let env: NodeJS.ProcessEnv;
let workDir: string;

/** The real kubectl with this suite's own HOME and discovery cache (test/helpers/kubectl.ts). */
const kubectl = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) =>
  runKubectl(args, { input: opts.input, env: { ...env, ...opts.env }, timeoutMs: 120_000 });

/** kubectl that must succeed; fails the test with kubectl's own words otherwise. */
async function ok(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

const file = (name: string, text: string) => {
  const path = join(workDir, name);
  writeFileSync(path, text);
  return path;
};

/** Rows of a kubectl table, split on runs of 2+ spaces, without the header. */
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s{2,}/));

const parkedPod = (name: string, ns: string, labels: Record<string, string> = {}, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: ${JSON.stringify(labels)}
${extra}spec:
  schedulerName: nobody-schedules-this
  containers:
  - name: main
    image: ${IMAGE}
    command: [sh, -c, sleep 3600]
`;

beforeAll(() => {
  const stack = inject('stack');
  workDir = mkdtempSync(join(stack.stateDir, 'kubectl-'));
  // Own discovery/OpenAPI cache: no state shared with other runs or the user's ~/.kube.
  env = { ...process.env, KUBECONFIG: stack.kubeconfigPath, KUBECACHEDIR: join(workDir, 'cache'), HOME: workDir };
});

describe('kubectl: discovery, OpenAPI, version', () => {
  it('version shows the server version', async () => {
    // Act
    const out = await ok(['version']);
    // Assess
    expect(out).toMatch(/Client Version: v1\.32/);
    expect(out).toMatch(/Server Version: v1\.32\.0-stratus/);
  });

  it('api-resources lists kinds with short names, scope and kind; api-versions the group versions', async () => {
    // Act
    const resources = await ok(['api-resources']);
    const versions = await ok(['api-versions']);
    // Assess
    // The first row of each name: metrics.k8s.io's pods and nodes come after the core ones, as in Kubernetes.
    const byName = Object.fromEntries(rows(resources).reverse().map((r) => [r[0], r]));
    expect(byName.pods).toEqual(['pods', 'po', 'v1', 'true', 'Pod']);
    expect(byName.namespaces).toEqual(['namespaces', 'ns', 'v1', 'false', 'Namespace']);
    expect(byName.leases).toEqual(['leases', 'coordination.k8s.io/v1', 'true', 'Lease']);
    expect(rows(resources).filter((r) => r[0] === 'pods').map((r) => r.at(-1))).toEqual(['Pod', 'PodMetrics']);
    expect(versions.split('\n')).toEqual(expect.arrayContaining(['v1', 'coordination.k8s.io/v1']));
  });

  it('explain prints field documentation from the OpenAPI v3 documents', async () => {
    // Act
    const out = await ok(['explain', 'pod.spec.containers']);
    // Assess
    expect(out).toContain('FIELD: containers <[]Container>');
    expect(out).toMatch(/List of containers belonging to the pod/);
    expect(out).toMatch(/image\t<string>\n\s+Container image name/);
    expect(out).toMatch(/env\t<\[\]EnvVar>/);
  });
});

describe('kubectl: apply, get, label, patch, edit, delete', () => {
  let ns: string;
  // A sort key whose order differs from the names' order, so --sort-by shows it sorted.
  const WEB_RANK = '  annotations: {rank: "a"}\n';
  const DB_RANK = '  annotations: {rank: "b"}\n';

  beforeAll(async () => {
    ns = uniqueName('kc');
  });

  it('apply -f creates a namespace and pods from one multi-document file, then reports them unchanged', async () => {
    // Prepare
    const manifest = file(
      'app.yaml',
      `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n---\n${parkedPod('web', ns, { app: 'web', tier: 'front' }, WEB_RANK)}---\n${parkedPod('db', ns, { app: 'db' }, DB_RANK)}`,
    );
    // Act
    const first = await ok(['apply', '-f', manifest]);
    const again = await ok(['apply', '-f', manifest]);
    // Assess
    expect(first.trim().split('\n')).toEqual([`namespace/${ns} created`, 'pod/web created', 'pod/db created']);
    expect(again.trim().split('\n')).toEqual([`namespace/${ns} unchanged`, 'pod/web unchanged', 'pod/db unchanged']);
  });

  it('apply -f again with a changed field changes it, and with a field removed removes it', async () => {
    // Prepare
    const changed = file('changed.yaml', parkedPod('web', ns, { app: 'web', tier: 'back' }, WEB_RANK));
    const removed = file('removed.yaml', parkedPod('web', ns, { app: 'web' }, WEB_RANK));
    // Act
    const configured = await ok(['apply', '-f', changed]);
    const afterChange = await ok(['get', 'pod', 'web', '-n', ns, '-o', 'jsonpath={.metadata.labels}']);
    await ok(['apply', '-f', removed]);
    const afterRemove = await ok(['get', 'pod', 'web', '-n', ns, '-o', 'jsonpath={.metadata.labels}']);
    // Assess
    expect(configured.trim()).toBe('pod/web configured');
    expect(JSON.parse(afterChange)).toEqual({ app: 'web', tier: 'back' });
    expect(JSON.parse(afterRemove)).toEqual({ app: 'web' });
  });

  it('get prints Kubernetes columns, -o wide adds the wide ones', async () => {
    // Act
    const plain = await ok(['get', 'pods', '-n', ns]);
    const wide = await ok(['get', 'pods', '-n', ns, '-o', 'wide']);
    // Assess
    expect(plain.split('\n')[0]!.split(/\s+/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(rows(plain).map((r) => r.slice(0, 4))).toEqual([
      ['db', '0/1', 'Pending', '0'],
      ['web', '0/1', 'Pending', '0'],
    ]);
    expect(wide.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
    expect(rows(wide)[0]!.slice(5)).toEqual(['<none>', '<none>', '<none>', '<none>']);
  });

  it('get -o yaml, -o json and -o jsonpath print the object', async () => {
    // Act
    const yamlOut = await ok(['get', 'pod', 'web', '-n', ns, '-o', 'yaml']);
    const jsonOut = JSON.parse(await ok(['get', 'pod', 'web', '-n', ns, '-o', 'json']));
    const path = await ok(['get', 'pods', '-n', ns, '-o', 'jsonpath={.items[*].metadata.name}']);
    // Assess
    expect(yamlOut).toMatch(/^apiVersion: v1\nkind: Pod\n/);
    expect(yamlOut).toContain('kubectl.kubernetes.io/last-applied-configuration');
    expect(jsonOut).toMatchObject({ kind: 'Pod', metadata: { name: 'web', namespace: ns }, spec: { schedulerName: 'nobody-schedules-this' } });
    expect(path).toBe('db web');
  });

  it('get with -l, --field-selector, -A, --sort-by and --show-labels', async () => {
    // Act
    const byLabel = await ok(['get', 'pods', '-n', ns, '-l', 'app=db']);
    const byField = await ok(['get', 'pods', '-n', ns, '--field-selector', 'metadata.name=web']);
    const all = await ok(['get', 'pods', '-A']);
    const sorted = await ok(['get', 'pods', '-n', ns, '--sort-by', '{.metadata.labels.app}', '-o', 'name']);
    const sortedTable = await ok(['get', 'pods', '-n', ns, '--sort-by', '.metadata.annotations.rank']);
    const labels = await ok(['get', 'pods', '-n', ns, '--show-labels']);
    // Assess
    expect(rows(byLabel).map((r) => r[0])).toEqual(['db']);
    expect(rows(byField).map((r) => r[0])).toEqual(['web']);
    expect(all.split('\n')[0]!.split(/\s+/)[0]).toBe('NAMESPACE');
    expect(rows(all).filter((r) => r[0] === ns).map((r) => r[1])).toEqual(['db', 'web']);
    expect(sorted.trim().split('\n')).toEqual(['pod/db', 'pod/web']);
    expect(rows(sortedTable).map((r) => r[0])).toEqual(['web', 'db']);
    expect(labels.split('\n')[0]).toMatch(/LABELS$/);
    expect(rows(labels).map((r) => [r[0], r.at(-1)])).toEqual([
      ['db', 'app=db'],
      ['web', 'app=web'],
    ]);
  });

  it('label and annotate, then read them back', async () => {
    // Act
    const labeled = await ok(['label', 'pod', 'web', '-n', ns, 'team=blue']);
    const annotated = await ok(['annotate', 'pod', 'web', '-n', ns, 'note=hello']);
    const unlabeled = await ok(['label', 'pod', 'web', '-n', ns, 'team-']);
    const meta = JSON.parse(await ok(['get', 'pod', 'web', '-n', ns, '-o', 'jsonpath={.metadata}']));
    // Assess
    expect(labeled.trim()).toBe('pod/web labeled');
    expect(annotated.trim()).toBe('pod/web annotated');
    expect(unlabeled.trim()).toBe('pod/web unlabeled');
    expect(meta.labels).toEqual({ app: 'web' });
    expect(meta.annotations.note).toBe('hello');
  });

  it('patch with --type merge, json and strategic (the default)', async () => {
    // Act
    await ok(['patch', 'pod', 'web', '-n', ns, '--type', 'merge', '-p', '{"metadata":{"labels":{"m":"1"}}}']);
    await ok(['patch', 'pod', 'web', '-n', ns, '--type', 'json', '-p', '[{"op":"add","path":"/metadata/labels/j","value":"2"}]']);
    const strategic = await ok(['patch', 'pod', 'web', '-n', ns, '-p', '{"spec":{"containers":[{"name":"main","image":"stratus-test/busybox:latest"}]}}']);
    const pod = JSON.parse(await ok(['get', 'pod', 'web', '-n', ns, '-o', 'json']));
    // Assess
    expect(strategic.trim()).toBe('pod/web patched');
    expect(pod.metadata.labels).toEqual({ app: 'web', m: '1', j: '2' });
    expect(pod.spec.containers).toHaveLength(1);
    expect(pod.spec.containers[0]).toMatchObject({ name: 'main', image: 'stratus-test/busybox:latest', command: ['sh', '-c', 'sleep 3600'] });
  });

  it('edit with EDITOR set to a script that edits the file', async () => {
    // Prepare
    const editor = file('editor.sh', '#!/bin/sh\nsed -i "s/note: hello/note: edited/" "$1"\n');
    chmodSync(editor, 0o755);
    // Act
    const out = await ok(['edit', 'pod', 'web', '-n', ns], { env: { EDITOR: editor, KUBE_EDITOR: editor } });
    const note = await ok(['get', 'pod', 'web', '-n', ns, '-o', 'jsonpath={.metadata.annotations.note}']);
    // Assess
    expect(out.trim()).toBe('pod/web edited');
    expect(note).toBe('edited');
  });

  it('prints errors exactly as kubectl does', async () => {
    // Prepare
    const bad = file('bad.yaml', parkedPod('bad', ns).replace('    image:', '    bogus: 1\n    image:'));
    // Act
    const missing = await kubectl(['get', 'pod', 'nope', '-n', ns]);
    const deleteMissing = await kubectl(['delete', 'pod', 'nope', '-n', ns]);
    const exists = await kubectl(['create', 'namespace', ns]);
    const unknownField = await kubectl(['apply', '-f', bad]);
    const noNamespace = await kubectl(['get', 'pods', '-n', 'does-not-exist-at-all']);
    // Assess
    expect(missing).toMatchObject({ code: 1, stderr: 'Error from server (NotFound): pods "nope" not found\n' });
    expect(deleteMissing).toMatchObject({ code: 1, stderr: 'Error from server (NotFound): pods "nope" not found\n' });
    expect(exists).toMatchObject({ code: 1, stderr: `Error from server (AlreadyExists): namespaces "${ns}" already exists\n` });
    expect(unknownField.code).toBe(1);
    expect(unknownField.stderr).toBe(
      `Error from server (BadRequest): error when creating "${bad}": Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogus"\n`,
    );
    expect(noNamespace).toMatchObject({ code: 0, stderr: 'No resources found in does-not-exist-at-all namespace.\n' });
  });

  it('delete removes a pod', async () => {
    // Act
    const out = await ok(['delete', 'pod', 'db', '-n', ns]);
    const after = await kubectl(['get', 'pod', 'db', '-n', ns]);
    // Assess
    expect(out.trim()).toBe('pod "db" deleted');
    expect(after.stderr).toBe('Error from server (NotFound): pods "db" not found\n');
  });
});

describe('kubectl: namespaces (protobuf bodies) and deletion', () => {
  it('create namespace (a protobuf request body) and get it', async () => {
    // Prepare
    const ns = uniqueName('pb');
    // Act
    const created = await ok(['create', 'namespace', ns]);
    const got = await ok(['get', 'namespace', ns]);
    // Assess
    expect(created.trim()).toBe(`namespace/${ns} created`);
    expect(rows(got).map((r) => r.slice(0, 2))).toEqual([[ns, 'Active']]);
  });

  it('delete namespace goes Terminating while content remains, then removes everything in it', async () => {
    // Prepare: a pod held by a finalizer keeps the namespace Terminating until we let it go
    const ns = uniqueName('gone');
    await ok(['create', 'namespace', ns]);
    await ok(['apply', '-f', '-'], { input: parkedPod('held', ns, {}, '  finalizers: [example.com/hold]\n') });
    await ok(['apply', '-f', '-'], { input: parkedPod('free', ns) });
    // Act
    const deleting = kubectl(['delete', 'namespace', ns]);
    const terminating = await eventually(async () => {
      const r = await kubectl(['get', 'namespace', ns]);
      return rows(r.stdout)[0]?.[1] === 'Terminating' ? r.stdout : undefined;
    }, 30_000, 'namespace Terminating');
    const podsWhileTerminating = await ok(['get', 'pods', '-n', ns]);
    await ok(['patch', 'pod', 'held', '-n', ns, '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    const deleted = await deleting;
    // Assess
    expect(terminating).toContain('Terminating');
    expect(rows(podsWhileTerminating).map((r) => [r[0], r[2]])).toEqual([['held', 'Terminating']]);
    expect(deleted).toMatchObject({ code: 0, stdout: `namespace "${ns}" deleted\n` });
    expect((await kubectl(['get', 'namespace', ns])).stderr).toBe(`Error from server (NotFound): namespaces "${ns}" not found\n`);
    expect((await kubectl(['get', 'pods', '-n', ns])).stderr).toBe(`No resources found in ${ns} namespace.\n`);
  });
});

describe('kubectl: a pod that really runs', () => {
  it('run starts a container; get, describe (with events), get nodes, events and leases show it', async () => {
    // Prepare
    const stack = inject('stack');
    const name = uniqueName('run');
    // Act
    // The shell exits on SIGTERM, so the graceful delete at the end does not wait out the grace period.
    const created = await ok(['run', name, `--image=${IMAGE}`, '--restart=Never', '--', 'sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait']);
    await eventually(async () => ((await ok(['get', 'pod', name, '-o', 'jsonpath={.status.phase}'])) === 'Running' ? true : undefined), 90_000, 'pod Running');
    const table = await ok(['get', 'pod', name, '-o', 'wide']);
    const described = await ok(['describe', 'pod', name]);
    const nodes = await ok(['get', 'nodes', stack.nodeName]);
    const events = await ok(['get', 'events', '--field-selector', `involvedObject.name=${name}`]);
    const leases = await ok(['get', 'leases', '-n', 'kube-node-lease', stack.nodeName]);
    // Assess
    expect(created.trim()).toBe(`pod/${name} created`);
    const row = rows(table)[0]!;
    expect(row.slice(0, 4)).toEqual([name, '1/1', 'Running', '0']);
    expect(row[5]).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(row[6]).toBe(stack.nodeName);
    expect(described).toMatch(/Status:\s+Running/);
    expect(described).toMatch(/Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
    expect(described).toMatch(/Normal\s+Scheduled\s+/);
    expect(nodes.split('\n')[0]!.split(/\s+/)).toEqual(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    expect(rows(nodes)[0]!.slice(0, 3)).toEqual([stack.nodeName, 'Ready', '<none>']);
    expect(events.split('\n')[0]!.split(/\s{2,}/)).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(rows(events).map((r) => [r[1], r[2], r[3]])).toContainEqual(['Normal', 'Scheduled', `pod/${name}`]);
    expect(rows(leases)[0]!.slice(0, 2)).toEqual([stack.nodeName, stack.nodeName]);
    // Clean up through kubectl too: graceful deletion ends with the pod gone.
    const deleted = await ok(['delete', 'pod', name]);
    expect(deleted.trim()).toBe(`pod "${name}" deleted`);
  });
});
