import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  chooseProtocol,
  decodeFrame,
  encodeFrame,
  exitStatus,
  failureStatus,
  parseExecOptions,
  parseResize,
  serveExecSession,
  type ExecProcess,
} from '../../node-agent/exec';

describe('exec channel framing', () => {
  it('prefixes the channel byte and reads it back; an empty message names no channel', () => {
    // Act
    const framed = encodeFrame(2, 'oops\n');
    const decoded = decodeFrame(framed);
    const bare = decodeFrame(encodeFrame(255, Buffer.from([0])));
    // Assess
    expect([...framed]).toEqual([2, ...Buffer.from('oops\n')]);
    expect(decoded?.channel).toBe(2);
    expect(decoded?.payload.toString()).toBe('oops\n');
    expect(bare).toEqual({ channel: 255, payload: Buffer.from([0]) });
    expect(decodeFrame(Buffer.alloc(0))).toBeUndefined();
  });

  // A text message (the Python client's stdin and resize) names its channel with its first
  // character as a code point; a binary one with its first byte.
  it.each([
    { what: 'binary stdin', data: Buffer.from([0, 0x61, 0x62]), binary: true, want: { channel: 0, payload: 'ab' } },
    { what: 'binary resize', data: Buffer.from('\u0004{"Width":1,"Height":2}'), binary: true, want: { channel: 4, payload: '{"Width":1,"Height":2}' } },
    { what: 'binary close (v5)', data: Buffer.from([255, 0]), binary: true, want: { channel: 255, payload: '\u0000' } },
    { what: 'text stdin, U+0000', data: Buffer.from('\u0000ls -l\n'), binary: false, want: { channel: 0, payload: 'ls -l\n' } },
    { what: 'text stdin with non-ASCII payload', data: Buffer.from('\u0000héllo ✓'), binary: false, want: { channel: 0, payload: 'héllo ✓' } },
    { what: 'text resize, U+0004', data: Buffer.from('\u0004{"Width":80,"Height":24}'), binary: false, want: { channel: 4, payload: '{"Width":80,"Height":24}' } },
    { what: 'text close, U+00FF then U+0000', data: Buffer.from('\u00ff\u0000'), binary: false, want: { channel: 255, payload: '\u0000' } },
    { what: "text digit '0' (base64 protocol, not served): channel 48", data: Buffer.from('0YWI='), binary: false, want: { channel: 48, payload: 'YWI=' } },
    { what: 'text channel only, no payload', data: Buffer.from('\u0000'), binary: false, want: { channel: 0, payload: '' } },
    { what: 'text whose first character is past U+00FF', data: Buffer.from('\u0100x'), binary: false, want: undefined },
    { what: 'text starting with a 3-byte character', data: Buffer.from('✓x'), binary: false, want: undefined },
    { what: 'text cut inside its first character', data: Buffer.from([0xc3]), binary: false, want: undefined },
    { what: 'empty binary', data: Buffer.alloc(0), binary: true, want: undefined },
    { what: 'empty text', data: Buffer.alloc(0), binary: false, want: undefined },
  ])('decodes $what', ({ data, binary, want }) => {
    // Act
    const got = decodeFrame(data, binary);
    // Assess
    expect(got && { channel: got.channel, payload: got.payload.toString('utf8') }).toEqual(want);
  });

  it('prefers v5 over v4 whatever the order offered, and speaks neither older one', () => {
    expect(chooseProtocol(['v4.channel.k8s.io', ' v5.channel.k8s.io'])).toBe('v5.channel.k8s.io');
    expect(chooseProtocol(['v4.channel.k8s.io', 'v3.channel.k8s.io'])).toBe('v4.channel.k8s.io');
    expect(chooseProtocol(['channel.k8s.io', 'base64.channel.k8s.io'])).toBeUndefined();
  });

  it('reads resize messages as client-go writes them, and rejects malformed ones', () => {
    expect(parseResize(Buffer.from('{"Width":120,"Height":40}'))).toEqual({ width: 120, height: 40 });
    expect(parseResize(Buffer.from('{"Width":-1,"Height":40}'))).toBeUndefined();
    expect(parseResize(Buffer.from('{"width":1,"height":2}'))).toBeUndefined();
    expect(parseResize(Buffer.from('not json'))).toBeUndefined();
  });

  it('ends with Success, NonZeroExitCode carrying the code, or an internal error', () => {
    expect(exitStatus(0, ['true'])).toMatchObject({ kind: 'Status', status: 'Success' });
    expect(exitStatus(3, ['sh', '-c', 'exit 3'])).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect(failureStatus('boom')).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500, message: 'Internal error occurred: boom' });
  });
});

describe('exec options', () => {
  it('keeps every command word in order; a tty drops stderr', () => {
    // Act
    const r = parseExecOptions(new URLSearchParams('command=sh&command=-c&command=echo+a+b&stdin=true&stdout=true&stderr=true&tty=true'));
    // Assess
    expect(r).toEqual({ ok: true, options: { command: ['sh', '-c', 'echo a b'], stdin: true, stdout: true, stderr: false, tty: true } });
  });

  it('needs a command and at least one stream', () => {
    expect(parseExecOptions(new URLSearchParams('stdout=true'))).toEqual({ ok: false, message: 'you must specify at least 1 command' });
    expect(parseExecOptions(new URLSearchParams('command=ls&tty=true'))).toEqual({ ok: false, message: 'you must specify at least 1 of stdin, stdout, stderr' });
  });
});

/** An ExecProcess whose streams and exit code the test drives. */
class FakeProcess implements ExecProcess {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly resizes: [number, number][] = [];
  received = '';
  stdinEnded = false;
  destroyed = false;
  private finish!: (code: number) => void;
  private readonly exit = new Promise<number>((r) => (this.finish = r));

  constructor() {
    this.stdin.on('data', (c: Buffer) => (this.received += c.toString()));
    this.stdin.on('end', () => (this.stdinEnded = true));
  }
  resize(width: number, height: number): void {
    this.resizes.push([width, height]);
  }
  wait(): Promise<number> {
    return this.exit;
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** The command ends: output closes, then the exit code is known. */
  end(code: number): void {
    this.stdout.end();
    this.stderr.end();
    this.finish(code);
  }
}

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A session served over a real WebSocket on localhost, and a client speaking `protocol`. */
async function session(proc: FakeProcess, protocol: string) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => chooseProtocol(p) ?? false });
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  let served: Promise<void> | undefined;
  server.on('connection', (ws) => {
    served = serveExecSession(ws, proc, { protocol: ws.protocol, command: ['cmd'] });
  });
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, [protocol]);
  const frames: { channel: number; text: string }[] = [];
  client.on('message', (d: Buffer) => frames.push({ channel: d[0]!, text: d.subarray(1).toString() }));
  const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
  await new Promise((r) => client.once('open', r));
  return { client, frames, closed, served: () => served };
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(ok()).toBe(true);
};

describe('an exec session', () => {
  it('relays stdin in, stdout and stderr out on their channels, then the Status and a normal close', async () => {
    // Prepare
    const proc = new FakeProcess();
    const s = await session(proc, 'v5.channel.k8s.io');
    // Act
    s.client.send(encodeFrame(0, 'typed\n'));
    s.client.send(encodeFrame(4, '{"Width":100,"Height":30}'));
    await until(() => proc.received === 'typed\n' && proc.resizes.length === 1);
    proc.stdout.write('out');
    proc.stderr.write('err');
    s.client.send(Buffer.from([255, 0]));
    await until(() => proc.stdinEnded);
    proc.end(2);
    const code = await s.closed;
    // Assess
    expect(proc.resizes).toEqual([[100, 30]]);
    expect(s.frames.filter((f) => f.channel === 1).map((f) => f.text).join('')).toBe('out');
    expect(s.frames.filter((f) => f.channel === 2).map((f) => f.text).join('')).toBe('err');
    const last = s.frames.at(-1)!;
    expect(last.channel).toBe(3);
    expect(JSON.parse(last.text)).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } });
    expect(code).toBe(1000);
  });

  it('v4 has no close-stream message: [255, 0] leaves stdin open', async () => {
    // Prepare
    const proc = new FakeProcess();
    const s = await session(proc, 'v4.channel.k8s.io');
    // Act
    s.client.send(Buffer.from([255, 0]));
    s.client.send(encodeFrame(0, 'still open'));
    await until(() => proc.received === 'still open');
    proc.end(0);
    await s.closed;
    // Assess
    expect(proc.stdinEnded).toBe(false);
    expect(JSON.parse(s.frames.at(-1)!.text)).toMatchObject({ status: 'Success' });
  });

  it.each(['v4.channel.k8s.io', 'v5.channel.k8s.io'])('%s: stdin and resize in text messages reach the command', async (protocol) => {
    // Prepare
    const proc = new FakeProcess();
    const s = await session(proc, protocol);
    // Act
    s.client.send('\u0000typed as text\n', { binary: false });
    s.client.send('\u0004{"Width":90,"Height":20}', { binary: false });
    s.client.send('0YWI=', { binary: false }); // base64 protocol: not ours, ignored
    await until(() => proc.received === 'typed as text\n' && proc.resizes.length === 1);
    proc.end(0);
    await s.closed;
    // Assess
    expect(proc.received).toBe('typed as text\n');
    expect(proc.resizes).toEqual([[90, 20]]);
    expect(JSON.parse(s.frames.at(-1)!.text)).toMatchObject({ status: 'Success' });
  });

  it('the client going away stops the relay and sends nothing more', async () => {
    // Prepare
    const proc = new FakeProcess();
    const s = await session(proc, 'v5.channel.k8s.io');
    // Act
    s.client.close();
    await until(() => proc.destroyed);
    proc.end(0);
    await s.served();
    // Assess
    expect(proc.destroyed).toBe(true);
    expect(s.frames.filter((f) => f.channel === 3)).toEqual([]);
  });
});
