import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../helpers/api';
import { kubectl as run } from '../helpers/kubectl';

/*
 * Issue #14, section C (API compatibility), through the real kubectl v1.32 with default flags:
 * managedFields (hidden unless --show-managed-fields, with kubectl's field managers),
 * strategic merge patch directives.
 */

const IMAGE = 'stratus-test/busybox:1.36';
let env: NodeJS.ProcessEnv;
let workDir: string;
let ns: string;

/** The real kubectl with this file's HOME and discovery cache, and a minute and more to finish. */
const kubectl = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) =>
  run(args, { input: opts.input, env: { ...env, ...opts.env }, timeoutMs: 120_000 });

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

interface Entry {
  manager: string;
  operation: string;
  apiVersion: string;
  time: string;
  fieldsType: string;
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}
const managedFields = async (kind: string, name: string) =>
  (JSON.parse(await ok(['get', kind, name, '-n', ns, '-o', 'json', '--show-managed-fields'])) as { metadata: { managedFields?: Entry[] } }).metadata.managedFields ?? [];

const parkedPod = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {app: ${name}}
spec:
  schedulerName: nobody-schedules-this
  containers:
  - name: main
    image: ${IMAGE}
    command: [sh, -c, sleep 3600]
`;

beforeAll(async () => {
  const stack = inject('stack');
  workDir = mkdtempSync(join(stack.stateDir, 'kubectl-compat-'));
  env = { ...process.env, KUBECONFIG: stack.kubeconfigPath, KUBECACHEDIR: join(workDir, 'cache'), HOME: workDir };
  ns = uniqueName('kcc');
  await ok(['create', 'namespace', ns]);
});

describe('kubectl: managedFields', () => {
  it('are hidden by default and shown with --show-managed-fields, with the manager kubectl names', async () => {
    // Prepare
    await ok(['create', '-f', file('mf.yaml', parkedPod('mf'))]);
    // Act
    const plain = await ok(['get', 'pod', 'mf', '-n', ns, '-o', 'yaml']);
    const shown = await ok(['get', 'pod', 'mf', '-n', ns, '-o', 'yaml', '--show-managed-fields']);
    const entries = await managedFields('pod', 'mf');
    // Assess
    expect(plain).not.toContain('managedFields');
    expect(shown).toContain('managedFields:');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ manager: 'kubectl-create', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1' });
    expect(entries[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(entries[0]!.fieldsV1).toMatchObject({ 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"main"}': { '.': {}, 'f:image': {} } } } });
  });

  it('move a label to kubectl-label and an annotation to kubectl-annotate, leaving the rest with the creator', async () => {
    // Act
    await ok(['label', 'pod', 'mf', '-n', ns, '--overwrite', 'app=changed', 'extra=1']);
    await ok(['annotate', 'pod', 'mf', '-n', ns, 'note=hi']);
    const entries = await managedFields('pod', 'mf');
    // Assess
    const by = Object.fromEntries(entries.map((e) => [e.manager, e.fieldsV1]));
    expect(by['kubectl-label']).toEqual({ 'f:metadata': { 'f:labels': { 'f:app': {}, 'f:extra': {} } } });
    expect(by['kubectl-annotate']).toEqual({ 'f:metadata': { 'f:annotations': { '.': {}, 'f:note': {} } } });
    expect(by['kubectl-create']).toMatchObject({ 'f:metadata': { 'f:labels': {} }, 'f:spec': {} });
    expect(JSON.stringify(by['kubectl-create'])).not.toContain('f:app');
  });

  it('records kubectl patch and kubectl edit under their own managers', async () => {
    // Prepare
    const editor = file('editor.sh', '#!/bin/sh\nsed -i "s/note: hi/note: edited/" "$1"\n');
    chmodSync(editor, 0o755);
    // Act
    await ok(['patch', 'pod', 'mf', '-n', ns, '-p', '{"metadata":{"labels":{"patched":"yes"}}}']);
    await ok(['edit', 'pod', 'mf', '-n', ns], { env: { EDITOR: editor, KUBE_EDITOR: editor } });
    const entries = await managedFields('pod', 'mf');
    // Assess
    const by = Object.fromEntries(entries.map((e) => [e.manager, e.fieldsV1]));
    expect(by['kubectl-patch']).toEqual({ 'f:metadata': { 'f:labels': { 'f:patched': {} } } });
    expect(by['kubectl-edit']).toEqual({ 'f:metadata': { 'f:annotations': { 'f:note': {} } } });
    expect(by['kubectl-annotate']).toEqual({ 'f:metadata': { 'f:annotations': {} } }); // the map itself, its key gone to kubectl-edit
  });

  it('records client-side apply as kubectl-client-side-apply, and a fieldManager over 128 bytes is 422', async () => {
    // Act
    await ok(['apply', '-f', file('ap.yaml', parkedPod('ap'))]);
    const entries = await managedFields('pod', 'ap');
    const long = await kubectl(['label', 'pod', 'ap', '-n', ns, 'x=1', `--field-manager=${'m'.repeat(129)}`]);
    // Assess
    expect(entries.map((e) => e.manager)).toEqual(['kubectl-client-side-apply']);
    expect(JSON.stringify(entries[0]!.fieldsV1)).toContain('f:kubectl.kubernetes.io/last-applied-configuration');
    expect(long.code).not.toBe(0);
    expect(long.stderr).toContain('fieldManager: Too long: may not be more than 128 bytes');
  });

  it('records kubectl set and kubectl rollout writes under their managers', async () => {
    // Prepare
    await ok(['create', 'deployment', 'mfd', '-n', ns, `--image=${IMAGE}`, '--replicas=0']);
    // Act
    await ok(['set', 'image', 'deployment/mfd', '-n', ns, 'busybox=stratus-test/busybox:other']);
    await ok(['rollout', 'restart', 'deployment/mfd', '-n', ns]);
    const entries = await managedFields('deployment', 'mfd');
    // Assess
    const managers = entries.map((e) => e.manager);
    expect(managers).toEqual(expect.arrayContaining(['kubectl-create', 'kubectl-set', 'kubectl-rollout']));
    const set = entries.find((e) => e.manager === 'kubectl-set')!;
    expect(JSON.stringify(set.fieldsV1)).toContain('f:image');
    const rollout = entries.find((e) => e.manager === 'kubectl-rollout')!;
    expect(JSON.stringify(rollout.fieldsV1)).toContain('f:kubectl.kubernetes.io/restartedAt');
  });
});

describe('kubectl patch --type strategic: directives', () => {
  it('$retainKeys clears the keys it does not list (a Deployment strategy switched to Recreate)', async () => {
    // Prepare
    await ok(['create', 'deployment', 'rk', '-n', ns, `--image=${IMAGE}`, '--replicas=0']);
    const before = JSON.parse(await ok(['get', 'deployment', 'rk', '-n', ns, '-o', 'jsonpath={.spec.strategy}'])) as Record<string, unknown>;
    // Act
    await ok(['patch', 'deployment', 'rk', '-n', ns, '--type', 'strategic', '-p', '{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}']);
    const after = JSON.parse(await ok(['get', 'deployment', 'rk', '-n', ns, '-o', 'jsonpath={.spec.strategy}'])) as Record<string, unknown>;
    // Assess
    expect(before).toHaveProperty('rollingUpdate');
    expect(after).toEqual({ type: 'Recreate' });
  });

  it('a patch setting a key $retainKeys does not list is refused with 400', async () => {
    // Act
    const r = await kubectl(['patch', 'deployment', 'rk', '-n', ns, '--type', 'strategic', '-p', '{"spec":{"strategy":{"$retainKeys":["type"],"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}']);
    // Assess
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('invalid patch format of retainKeys');
  });

  it('$deleteFromPrimitiveList removes one finalizer, $patch: replace replaces metadata', async () => {
    // Prepare
    await ok(['create', '-f', file('sp.yaml', parkedPod('sp'))]);
    await ok(['patch', 'pod', 'sp', '-n', ns, '--type', 'strategic', '-p', '{"metadata":{"finalizers":["a.example.com/x","b.example.com/y"]}}']);
    // Act
    await ok(['patch', 'pod', 'sp', '-n', ns, '--type', 'strategic', '-p', '{"metadata":{"$deleteFromPrimitiveList/finalizers":["a.example.com/x"]}}']);
    const finalizers = await ok(['get', 'pod', 'sp', '-n', ns, '-o', 'jsonpath={.metadata.finalizers}']);
    await ok(['patch', 'pod', 'sp', '-n', ns, '--type', 'strategic', '-p', '{"metadata":{"$patch":"replace","name":"sp","namespace":"' + ns + '","labels":{"app":"sp"}}}']);
    // Assess
    expect(JSON.parse(finalizers)).toEqual(['b.example.com/y']);
    expect(await ok(['get', 'pod', 'sp', '-n', ns, '-o', 'jsonpath={.metadata.finalizers}'])).toBe('');
  });
});

describe('kubectl: typed create commands sending protobuf', () => {
  it('create pdb --selector --min-available makes a PodDisruptionBudget', async () => {
    // Act
    const out = await ok(['create', 'pdb', 'web-pdb', '-n', ns, '--selector=app=web', '--min-available=1']);
    const pdb = JSON.parse(await ok(['get', 'pdb', 'web-pdb', '-n', ns, '-o', 'json'])) as { spec: Record<string, unknown> };
    // Assess
    expect(out.trim()).toBe('poddisruptionbudget.policy/web-pdb created');
    expect(pdb.spec).toMatchObject({ minAvailable: 1, selector: { matchLabels: { app: 'web' } } });
  });

  it('create priorityclass --value makes a PriorityClass', async () => {
    // Prepare
    const name = uniqueName('pc');
    // Act
    const out = await ok(['create', 'priorityclass', name, '--value=1000', '--description=compat test']);
    const pc = JSON.parse(await ok(['get', 'priorityclass', name, '-o', 'json'])) as Record<string, unknown>;
    await ok(['delete', 'priorityclass', name]);
    // Assess
    expect(out.trim()).toBe(`priorityclass.scheduling.k8s.io/${name} created`);
    expect(pc).toMatchObject({ value: 1000, description: 'compat test' });
  });
});

describe('kubectl edit of several objects', () => {
  it('edits every pod of a List in one editor session', async () => {
    // Prepare
    await ok(['create', '-f', file('l1.yaml', parkedPod('list-a'))]);
    await ok(['create', '-f', file('l2.yaml', parkedPod('list-b'))]);
    const editor = file('list-editor.sh', '#!/bin/sh\nsed -i "s/^\\(    \\)labels:$/\\1labels:\\n\\1  edited: \\"yes\\"/" "$1"\n');
    chmodSync(editor, 0o755);
    // Act
    const r = await kubectl(['edit', 'pods', 'list-a', 'list-b', '-n', ns], { env: { EDITOR: editor, KUBE_EDITOR: editor } });
    const a = await ok(['get', 'pod', 'list-a', '-n', ns, '-o', 'jsonpath={.metadata.labels.edited}']);
    const b = await ok(['get', 'pod', 'list-b', '-n', ns, '-o', 'jsonpath={.metadata.labels.edited}']);
    // Assess
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').sort()).toEqual(['pod/list-a edited', 'pod/list-b edited']);
    expect([a, b]).toEqual(['yes', 'yes']);
  });
});
