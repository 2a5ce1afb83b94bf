import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { allRunning as running, hostPathDir, privilegedNamespace, waitForPod as waitForPodIn } from '../helpers/pods';

/*
 * Issue #5, container lifecycle hooks: postStart runs right after start (its output reaches the
 * container through an emptyDir and shows in `kubectl logs`), preStop runs before SIGTERM on
 * delete (it writes to a hostPath file the test reads on the host: in a namespace labelled
 * privileged, under the node's --host-path-allow), as exec or httpGet.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const run = promisify(execFile);
let api: Api;
type Json = any;


const waitForPod = (name: string, what: string, ok: (pod: Json) => boolean, timeoutMs?: number) => waitForPodIn(api, NS, name, what, ok, timeoutMs);

/** hostPath tests run in a namespace labelled privileged: the default one enforces baseline. */
let HOST_NS: string;

beforeAll(async () => {
  api = Api.forTenant('default');
  HOST_NS = await privilegedNamespace(api, 'lifecycle-host-paths');
});

describe('lifecycle hooks', () => {
  it('postStart runs after the container starts; its output is visible in the logs', async () => {
    // Prepare
    const name = uniqueName('hook-post');
    const r = await api.post(`${NS}/pods`, {
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        volumes: [{ name: 'work', emptyDir: {} }],
        containers: [
          {
            name: 'main',
            image: IMAGE,
            command: ['sh', '-c', 'while [ ! -f /work/post ]; do sleep 0.2; done; cat /work/post; sleep 3600'],
            volumeMounts: [{ name: 'work', mountPath: '/work' }],
            lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo "postStart ran in $HOSTNAME" > /work/post'] } } },
          },
        ],
      },
    });
    expect(r.status, r.text).toBe(201);
    await waitForPod(name, 'running', running);
    // Act
    const logs = await eventually(async () => {
      const out = await run('kubectl', ['logs', name], { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath } });
      return out.stdout.includes('postStart') ? out.stdout : undefined;
    }, 30_000, 'the postStart line in the logs');
    // Assess
    expect(logs).toBe(`postStart ran in ${name}\n`);
  });

  it('preStop (exec) runs before SIGTERM on delete, within the grace period', async () => {
    // Prepare
    const dir = hostPathDir('prestop-');
    const name = uniqueName('hook-pre');
    const r = await api.post(`${HOST_NS}/pods`, {
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 10,
        volumes: [{ name: 'out', hostPath: { path: dir, type: 'Directory' } }],
        containers: [
          {
            name: 'main',
            image: IMAGE,
            // The main process records SIGTERM after the hook's line: the order is the proof.
            command: ['sh', '-c', 'trap "echo sigterm >> /out/trace; exit 0" TERM; while true; do sleep 0.2; done'],
            volumeMounts: [{ name: 'out', mountPath: '/out' }],
            lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /out/trace'] } } },
          },
        ],
      },
    });
    expect(r.status, r.text).toBe(201);
    await waitForPodIn(api, HOST_NS, name, 'running', running);
    // Act
    await api.delete(`${HOST_NS}/pods/${name}`);
    await eventually(async () => ((await api.get(`${HOST_NS}/pods/${name}`)).status === 404 ? true : undefined), 60_000, 'the pod to be gone');
    // Assess
    const trace = join(dir, 'trace');
    expect(existsSync(trace)).toBe(true);
    expect(readFileSync(trace, 'utf8')).toBe('prestop\nsigterm\n');
    rmSync(dir, { recursive: true, force: true });
  });

  it('preStop (httpGet) calls the pod before it is stopped', async () => {
    // Prepare
    const dir = hostPathDir('prestop-http-');
    const name = uniqueName('hook-http');
    const r = await api.post(`${HOST_NS}/pods`, {
      metadata: { name },
      spec: {
        // httpd runs as PID 1 and ignores SIGTERM: a short grace keeps the SIGKILL near.
        terminationGracePeriodSeconds: 3,
        volumes: [{ name: 'out', hostPath: { path: dir, type: 'Directory' } }],
        containers: [
          {
            name: 'web',
            image: IMAGE,
            // A CGI script records the hook's request in the hostPath.
            command: [
              'sh',
              '-c',
              'mkdir -p /www/cgi-bin; printf "#!/bin/sh\\necho called >> /out/http\\necho Content-Type: text/plain\\necho\\necho ok\\n" > /www/cgi-bin/stop; chmod +x /www/cgi-bin/stop; exec httpd -f -p 8080 -h /www',
            ],
            ports: [{ name: 'http', containerPort: 8080 }],
            volumeMounts: [{ name: 'out', mountPath: '/out' }],
            lifecycle: { preStop: { httpGet: { path: '/cgi-bin/stop', port: 'http' } } },
          },
        ],
      },
    });
    expect(r.status, r.text).toBe(201);
    await waitForPodIn(api, HOST_NS, name, 'running', running);
    // Act
    await api.delete(`${HOST_NS}/pods/${name}`);
    await eventually(async () => ((await api.get(`${HOST_NS}/pods/${name}`)).status === 404 ? true : undefined), 60_000, 'the pod to be gone');
    // Assess
    expect(readFileSync(join(dir, 'http'), 'utf8')).toBe('called\n');
    rmSync(dir, { recursive: true, force: true });
  });
});
