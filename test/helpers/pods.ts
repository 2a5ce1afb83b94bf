import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { expect, inject } from 'vitest';
import { eventually, type Api } from './api';

type Json = any;

/** Creates a pod (terminationGracePeriodSeconds 1 unless `extra` says otherwise) and expects 201. */
export async function createPod(api: Api, namespacePath: string, name: string, containers: Json[], extra: Json = {}): Promise<void> {
  const r = await api.post(`${namespacePath}/pods`, { metadata: { name }, spec: { containers, terminationGracePeriodSeconds: 1, ...extra } });
  expect(r.status, r.text).toBe(201);
}

/** The pod, once it has a status that satisfies `ok` (fails the test after `timeoutMs`, naming `what`). */
export function waitForPod(api: Api, namespacePath: string, name: string, what: string, ok: (pod: Json) => boolean, timeoutMs = 60_000): Promise<Json> {
  return eventually(async () => {
    const pod = (await api.get(`${namespacePath}/pods/${name}`)).body;
    return pod?.status && ok(pod) ? pod : undefined;
  }, timeoutMs, `pod ${name}: ${what}`);
}

/** Every container of the pod reports running (and there is at least one status). */
export const allRunning = (pod: Json): boolean =>
  (pod.status?.containerStatuses ?? []).length > 0 && pod.status.containerStatuses.every((c: Json) => c.state?.running);

/**
 * A workload's pod template as YAML (labels app=APP, one busybox container sleeping an hour,
 * 1 s grace), indented to sit under a `template:` key at `indent` spaces; `extraContainerYaml`
 * adds lines to the container (at its indentation), e.g. `env: [{name: V, value: "1"}]`.
 */
export function sleeperTemplateYaml(app: string, image: string, indent = 4, extraContainerYaml = ''): string {
  const lines = [
    'metadata:',
    `  labels: {app: ${app}}`,
    'spec:',
    '  terminationGracePeriodSeconds: 1',
    '  containers:',
    '  - name: main',
    `    image: ${image}`,
    '    command: [sh, -c, sleep 3600]',
    ...(extraContainerYaml ? [`    ${extraContainerYaml}`] : []),
  ];
  return lines.map((l) => `\n${' '.repeat(indent)}${l}`).join('');
}

/** The label that lets a namespace's pods use the host (Pod Security's privileged level). */
export const PRIVILEGED_NAMESPACE_LABELS = { 'pod-security.kubernetes.io/enforce': 'privileged' } as const;

/**
 * Creates namespace `name` labelled pod-security.kubernetes.io/enforce=privileged (idempotent):
 * where tests whose pods use hostPath, hostNetwork, privileged or hostPort run, since every
 * other namespace of the default cluster enforces baseline. Returns its API path.
 */
export async function privilegedNamespace(api: Api, name: string): Promise<string> {
  const r = await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...PRIVILEGED_NAMESPACE_LABELS } } });
  expect([201, 409], r.text).toContain(r.status);
  return `/api/v1/namespaces/${name}`;
}

/**
 * A new directory pods may mount as hostPath on the run's node: under the state dir's
 * host-paths/, the one directory test/global-setup.ts gives the agent as --host-path-allow.
 */
export function hostPathDir(prefix: string): string {
  const root = join(inject('stack').stateDir, 'host-paths');
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, prefix));
  chmodSync(dir, 0o777);
  return dir;
}
