import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chooseContainer } from '../../functions/api/pod-proxy';
import { isStatusError } from '../../shared/errors';
import { graceAfterHook } from '../../node-agent/hooks';
import { DockerLogDemuxer, dockerSince, parseLogOptions } from '../../node-agent/logs';
import { buildNodeStatus, nodeImages, pressureOf, type HostFacts } from '../../node-agent/node-status';
import { keyFiles, safeRelativePath, writeAtomically } from '../../node-agent/volumes';

/** One Docker log frame: stream type, 3 zero bytes, big-endian length, payload. */
const frame = (type: 1 | 2, text: string): Buffer => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

async function collect(chunks: Buffer[], limit?: number, raw = false): Promise<string> {
  const out: Buffer[] = [];
  const demux = Readable.from(chunks).pipe(new DockerLogDemuxer(limit, raw));
  for await (const c of demux) out.push(c as Buffer);
  return Buffer.concat(out).toString();
}

describe('container logs', () => {
  it("passes a tty container's unframed output through, within the byte limit", async () => {
    // Prepare: a tty's stream has no frame headers; bytes that would parse as one must not be eaten
    const chunks = [Buffer.from('\u0001\u0000\u0000\u0000hello '), Buffer.from('tty\r\n')];
    // Act
    const all = await collect(chunks, undefined, true);
    const limited = await collect(chunks, 6, true);
    // Assess
    expect(all).toBe('\u0001\u0000\u0000\u0000hello tty\r\n');
    expect(limited).toBe('\u0001\u0000\u0000\u0000he');
  });

  it('demultiplexes stdout and stderr whatever the chunking', async () => {
    // Prepare
    const bytes = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]);
    const chunks = [bytes.subarray(0, 3), bytes.subarray(3, 17), bytes.subarray(17)];
    // Act
    const text = await collect(chunks);
    // Assess
    expect(text).toBe('out 1\nerr 1\nout 2\n');
  });

  it('stops at limitBytes', async () => {
    // Act
    const text = await collect([frame(1, 'abcdef\n'), frame(1, 'ghi\n')], 4);
    // Assess
    expect(text).toBe('abcd');
  });

  it('parses PodLogOptions and refuses bad ones in Kubernetes words', () => {
    // Act
    const good = parseLogOptions(new URLSearchParams('follow=true&tailLines=3&sinceSeconds=10&timestamps=1'));
    const negative = parseLogOptions(new URLSearchParams('tailLines=-1'));
    const both = parseLogOptions(new URLSearchParams('sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z'));
    // Assess
    expect(good).toEqual({ ok: true, options: { follow: true, previous: false, timestamps: true, tailLines: 3, sinceSeconds: 10 } });
    expect(negative.ok).toBe(false);
    expect(both).toEqual({ ok: false, message: 'at most one of `sinceTime` or `sinceSeconds` may be specified' });
    expect(dockerSince({ follow: false, previous: false, timestamps: false, sinceSeconds: 10 }, new Date(100_000))).toBe(90);
  });

  it('chooses the container as kube-apiserver does', () => {
    // Prepare
    const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }, { name: 'b' }], initContainers: [{ name: 'i' }] } };
    const message = (f: () => unknown) => {
      try {
        f();
        return undefined;
      } catch (e) {
        return isStatusError(e) ? `${e.code} ${e.message}` : String(e);
      }
    };
    // Act & Assess
    expect(chooseContainer(pod, 'b')).toBe('b');
    expect(chooseContainer(pod, 'i')).toBe('i');
    expect(chooseContainer({ metadata: { name: 'q' }, spec: { containers: [{ name: 'only' }] } }, null)).toBe('only');
    expect(message(() => chooseContainer(pod, null))).toBe('400 a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]');
    expect(message(() => chooseContainer(pod, 'x'))).toBe('400 container x is not valid for pod p');
  });
});

describe('volumes', () => {
  it('keyFiles: all keys, or the items with their modes; a missing key or object is a mount error', () => {
    // Prepare
    const data = { data: { a: '1', b: '2' } };
    // Act
    const all = keyFiles('configmap', 'cm', data, undefined, 0o400, false);
    const items = keyFiles('configmap', 'cm', data, [{ key: 'b', path: 'd/b.txt', mode: 0o600 }], undefined, false);
    // Assess
    expect([...all].map(([p, f]) => [p, f.data.toString(), f.mode])).toEqual([['a', '1', 0o400], ['b', '2', 0o400]]);
    expect([...items].map(([p, f]) => [p, f.data.toString(), f.mode])).toEqual([['d/b.txt', '2', 0o600]]);
    expect(() => keyFiles('configmap', 'cm', undefined, undefined, undefined, false)).toThrow('configmap "cm" not found');
    expect(keyFiles('secret', 's', undefined, undefined, undefined, true).size).toBe(0);
    expect(() => keyFiles('configmap', 'cm', data, [{ key: 'z', path: 'z' }], undefined, false)).toThrow('configmap references non-existent config key: z');
  });

  it('writeAtomically swaps ..data and keeps key symlinks; unchanged content writes nothing', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    try {
      // Act
      const first = await writeAtomically(dir, new Map([['k', { data: Buffer.from('v1'), mode: 0o644 }], ['gone', { data: Buffer.from('x'), mode: 0o644 }]]));
      const again = await writeAtomically(dir, new Map([['k', { data: Buffer.from('v1'), mode: 0o644 }], ['gone', { data: Buffer.from('x'), mode: 0o644 }]]));
      const second = await writeAtomically(dir, new Map([['k', { data: Buffer.from('v2'), mode: 0o400 }]]));
      // Assess
      expect([first, again, second]).toEqual([true, false, true]);
      expect(readFileSync(join(dir, 'k'), 'utf8')).toBe('v2');
      expect(statSync(join(dir, 'k')).mode & 0o777).toBe(0o400);
      expect(readlinkSync(join(dir, 'k'))).toBe('..data/k');
      expect(() => statSync(join(dir, 'gone'))).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('safeRelativePath refuses absolute paths and ..', () => {
    expect(['a', 'a/b', 'a..b'].map(safeRelativePath)).toEqual([true, true, true]);
    expect(['/a', '../a', 'a/../../b', ''].map(safeRelativePath)).toEqual([false, false, false, false]);
  });
});

describe('lifecycle hooks', () => {
  it('leaves at least 2 s for SIGTERM after a preStop hook', () => {
    expect(graceAfterHook(30, 5_000)).toBe(25);
    expect(graceAfterHook(3, 5_000)).toBe(2);
  });
});

describe('node status', () => {
  const facts: HostFacts = {
    hostname: 'h', internalIP: '10.0.0.1', cpus: 2, memoryBytes: 4 * 2 ** 30, kernelVersion: 'k', osImage: 'o',
    architecture: 'amd64', containerRuntimeVersion: 'docker://27', machineID: 'm', bootID: 'b',
  };
  const GiB = 2 ** 30;

  it('pressure conditions turn True at the kubelet default eviction thresholds', () => {
    // Act
    const calm = pressureOf({ memoryAvailableBytes: 2 * GiB, nodefs: { availableBytes: 50 * GiB, capacityBytes: 100 * GiB }, imagefs: { availableBytes: 20 * GiB, capacityBytes: 100 * GiB }, pids: { used: 500, max: 32768 } });
    const pressed = pressureOf({ memoryAvailableBytes: 50 * 2 ** 20, imagefs: { availableBytes: 14 * GiB, capacityBytes: 100 * GiB }, pids: { used: 32000, max: 32768 } });
    const unknown = pressureOf({});
    // Assess
    expect(calm).toEqual({ memory: false, disk: false, pid: false });
    expect(pressed).toEqual({ memory: true, disk: true, pid: true });
    expect(unknown).toEqual({ memory: false, disk: false, pid: false });
  });

  it('reports the conditions, the kubelet port and images', () => {
    // Act
    const status = buildNodeStatus(facts, 110, new Date('2024-01-01T00:00:00Z'), [], {
      kubeletPort: 40123,
      readings: { memoryAvailableBytes: 1 },
      images: nodeImages([
        { RepoTags: ['small:1'], RepoDigests: [], Size: 10 },
        { RepoTags: ['<none>:<none>'], RepoDigests: null, Size: 99 },
        { RepoTags: ['big:1'], RepoDigests: ['big@sha256:abc'], Size: 1000 },
      ]),
    }) as any;
    // Assess
    expect(status.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 40123 } });
    expect(status.images).toEqual([{ names: ['big@sha256:abc', 'big:1'], sizeBytes: 1000 }, { names: ['small:1'], sizeBytes: 10 }]);
    expect(status.conditions.find((c: any) => c.type === 'MemoryPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasInsufficientMemory' });
    expect(status.conditions.find((c: any) => c.type === 'DiskPressure')).toMatchObject({ status: 'False', reason: 'KubeletHasNoDiskPressure' });
  });
});
