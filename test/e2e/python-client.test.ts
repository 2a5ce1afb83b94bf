import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * The official Python client (Debian's python3-kubernetes, installed by `npm test` through
 * scripts/ensure-apt.sh) as a second client nobody here wrote: test/fixtures/python-client/checks.py
 * runs what its users do (exec with text stdin frames and exit codes, port-forward, logs, patch
 * content types, Status errors, pagination, watch, create_from_yaml, scale, the dynamic client)
 * and reports each check; this test asserts every one passed. /usr/bin/python3 is Debian's Python,
 * the one that has the package (a python3 earlier on PATH may not).
 */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(__dirname, '..', 'fixtures', 'python-client', 'checks.py');
const IMAGE = 'stratus-test/busybox:1.36';
const ns = uniqueName('py');
let results: Record<string, string> = {};

describe('the official Python client', { timeout: 240_000 }, () => {
  beforeAll(async () => {
    const made = await kubectl(['create', 'namespace', ns]);
    if (made.code !== 0) throw new Error(made.stderr);
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(PYTHON, [SCRIPT, inject('stack').kubeconfigPath, ns, IMAGE], { timeout: 200_000, maxBuffer: 16 << 20 }, (err, out, errOut) =>
        err && !out ? reject(new Error(`${err.message}\n${errOut}`)) : resolve({ stdout: out, stderr: errOut }),
      ),
    );
    const last = stdout.trim().split('\n').at(-1) ?? '';
    try {
      results = JSON.parse(last) as Record<string, string>;
    } catch {
      throw new Error(`checks.py printed no results:\n${stdout}\n${stderr}`);
    }
  }, 240_000);

  afterAll(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it.each([
    'create_pod_and_wait_running',
    'logs',
    'exec_output',
    'exec_exit_code',
    'exec_interactive',
    'port_forward',
    'not_found_status',
    'conflict_status',
    'patch_merge_and_json_patch',
    'pagination',
    'watch',
    'create_from_yaml_and_scale',
    'dynamic_client',
  ])('%s', (check) => {
    expect(results[check]).toBe('ok');
  });
});
