/**
 * A small SPDY/3.1 framer and session, enough for Kubernetes' port-forward (and what kubectl's
 * spdystream sends): SYN_STREAM, SYN_REPLY, DATA, RST_STREAM, PING, GOAWAY, with SETTINGS,
 * HEADERS and WINDOW_UPDATE read and ignored (spdystream does no flow control, so neither do we).
 *
 * Wire format (draft-mbelshe-httpbis-spdy-00, SPDY/3):
 *   control frame: 1 | version(15) = 3 | type(16) | flags(8) | length(24) | data
 *   data frame:    0 | stream id(31)            | flags(8) | length(24) | data
 *   SYN_STREAM: stream id(31), associated id(31), priority(3) unused(5) slot(8), header block
 *   SYN_REPLY / HEADERS: stream id(31), header block
 *   RST_STREAM: stream id(31), status(32)    PING: id(32)    GOAWAY: last good id(31), status(32)
 * A header block is zlib-compressed with SPDY/3's dictionary, one compression context per
 * direction for the whole session (each block ends with a sync flush); uncompressed it is
 * count(32) then (length(32) name, length(32) value) pairs, values NUL-separated when repeated.
 *
 * The parser is pure and total: any byte sequence gives frames or a protocol error, never a
 * throw (unit-tested in test/unit/spdy.test.ts). The session turns a protocol error into GOAWAY
 * and closes the connection; a bad frame on one stream (a header block that does not decode, a
 * DATA frame for an unknown stream) resets only that stream.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const FRAME = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goAway: 7, headers: 8, windowUpdate: 9 } as const;
/** RST_STREAM status codes. */
export const RST = { protocolError: 1, invalidStream: 2, refusedStream: 3, cancel: 5, internalError: 6, streamInUse: 8, streamAlreadyClosed: 9 } as const;
/** The largest frame we accept (SPDY's length field allows 16 MiB; spdystream writes at most 64 KiB of data per frame). */
export const MAX_FRAME_LENGTH = 1 << 20;

export type SpdyFrame =
  | { readonly type: 'data'; readonly streamId: number; readonly flags: number; readonly data: Buffer }
  | { readonly type: 'synStream'; readonly streamId: number; readonly associatedId: number; readonly flags: number; readonly headerBlock: Buffer }
  | { readonly type: 'synReply' | 'headers'; readonly streamId: number; readonly flags: number; readonly headerBlock: Buffer }
  | { readonly type: 'rstStream'; readonly streamId: number; readonly status: number }
  | { readonly type: 'ping'; readonly id: number }
  | { readonly type: 'goAway'; readonly lastGoodStreamId: number; readonly status: number }
  | { readonly type: 'settings' | 'windowUpdate' | 'unknown'; readonly controlType: number };

export type ParseResult = { readonly ok: true; readonly frames: SpdyFrame[] } | { readonly ok: false; readonly error: string; readonly frames: SpdyFrame[] };

const u31 = (b: Buffer, at: number) => b.readUInt32BE(at) & 0x7fffffff;

/** Parses frames out of a byte stream fed in arbitrary pieces (a TCP read, a WebSocket message). */
export class SpdyParser {
  private buffer: Buffer = Buffer.alloc(0);
  private failed: string | undefined;

  /** The frames completed by `chunk`; after a protocol error every call returns that error. */
  push(chunk: Buffer): ParseResult {
    const frames: SpdyFrame[] = [];
    if (this.failed) return { ok: false, error: this.failed, frames };
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 8) {
      const length = this.buffer.readUIntBE(5, 3);
      if (length > MAX_FRAME_LENGTH) return this.fail(`frame of ${length} bytes is larger than ${MAX_FRAME_LENGTH}`, frames);
      if (this.buffer.length < 8 + length) break;
      const head = this.buffer.subarray(0, 8);
      const body = this.buffer.subarray(8, 8 + length);
      this.buffer = this.buffer.subarray(8 + length);
      const frame = parseFrame(head, body);
      if (typeof frame === 'string') return this.fail(frame, frames);
      frames.push(frame);
    }
    return { ok: true, frames };
  }

  private fail(error: string, frames: SpdyFrame[]): ParseResult {
    this.failed = error;
    this.buffer = Buffer.alloc(0);
    return { ok: false, error, frames };
  }
}

/** One frame from its 8-byte head and its body, or what is wrong with it. */
export function parseFrame(head: Buffer, body: Buffer): SpdyFrame | string {
  const flags = head[4]!;
  if ((head[0]! & 0x80) === 0) return { type: 'data', streamId: u31(head, 0), flags, data: Buffer.from(body) };
  const version = head.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) return `unsupported SPDY version ${version}`;
  const controlType = head.readUInt16BE(2);
  const need = (n: number) => (body.length < n ? `control frame type ${controlType} is ${body.length} bytes long, needs ${n}` : undefined);
  switch (controlType) {
    case FRAME.synStream:
      return need(10) ?? { type: 'synStream', streamId: u31(body, 0), associatedId: u31(body, 4), flags, headerBlock: Buffer.from(body.subarray(10)) };
    case FRAME.synReply:
    case FRAME.headers:
      return need(4) ?? { type: controlType === FRAME.synReply ? 'synReply' : 'headers', streamId: u31(body, 0), flags, headerBlock: Buffer.from(body.subarray(4)) };
    case FRAME.rstStream:
      return need(8) ?? { type: 'rstStream', streamId: u31(body, 0), status: body.readUInt32BE(4) };
    case FRAME.ping:
      return need(4) ?? { type: 'ping', id: body.readUInt32BE(0) };
    case FRAME.goAway:
      return need(8) ?? { type: 'goAway', lastGoodStreamId: u31(body, 0), status: body.readUInt32BE(4) };
    case FRAME.settings:
      return { type: 'settings', controlType };
    case FRAME.windowUpdate:
      return { type: 'windowUpdate', controlType };
    default:
      // SPDY: an unknown control frame is ignored.
      return { type: 'unknown', controlType };
  }
}

function controlFrame(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(body.length, 4);
  head[4] = flags;
  return Buffer.concat([head, body]);
}

export function encodeData(streamId: number, data: Buffer, fin = false): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(data.length, 4);
  head[4] = fin ? FLAG_FIN : 0;
  return Buffer.concat([head, data]);
}

export function encodeSynReply(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  return controlFrame(FRAME.synReply, fin ? FLAG_FIN : 0, Buffer.concat([body, headerBlock]));
}

export function encodeSynStream(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  const body = Buffer.alloc(10);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  return controlFrame(FRAME.synStream, fin ? FLAG_FIN : 0, Buffer.concat([body, headerBlock]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return controlFrame(FRAME.rstStream, 0, body);
}

export function encodePing(id: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(id >>> 0, 0);
  return controlFrame(FRAME.ping, 0, body);
}

export function encodeGoAway(lastGoodStreamId: number, status = 0): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return controlFrame(FRAME.goAway, 0, body);
}

// ---------------------------------------------------------------------------------------------
// Header blocks.

/** SPDY/3's zlib dictionary (section 2.6.10.1 of the draft). */
export const SPDY3_DICTIONARY = Buffer.from(
  [
    '\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put\x00\x00\x00\x06delete\x00\x00\x00\x05trace',
    '\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset\x00\x00\x00\x0faccept-encoding\x00\x00\x00\x0faccept-language',
    '\x00\x00\x00\x0daccept-ranges\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\x0dauthorization\x00\x00\x00\x0dcache-control',
    '\x00\x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10content-encoding\x00\x00\x00\x10content-language',
    '\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-location\x00\x00\x00\x0bcontent-md5\x00\x00\x00\x0dcontent-range',
    '\x00\x00\x00\x0ccontent-type\x00\x00\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06expect\x00\x00\x00\x07expires',
    '\x00\x00\x00\x04from\x00\x00\x00\x04host\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since\x00\x00\x00\x0dif-none-match',
    '\x00\x00\x00\x08if-range\x00\x00\x00\x13if-unmodified-since\x00\x00\x00\x0dlast-modified\x00\x00\x00\x08location',
    '\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma\x00\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization',
    '\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after\x00\x00\x00\x06server\x00\x00\x00\x02te',
    '\x00\x00\x00\x07trailer\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade\x00\x00\x00\x0auser-agent\x00\x00\x00\x04vary',
    '\x00\x00\x00\x03via\x00\x00\x00\x07warning\x00\x00\x00\x10www-authenticate\x00\x00\x00\x06method\x00\x00\x00\x03get',
    '\x00\x00\x00\x06status\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url',
    '\x00\x00\x00\x06public\x00\x00\x00\x0aset-cookie\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin',
    '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505',
    '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized',
    '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable',
    'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT',
    'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,',
    'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.',
  ].join(''),
  'latin1',
);

export type SpdyHeaders = ReadonlyMap<string, string>;

/** An uncompressed header block's pairs, or undefined if it is malformed. Names are lowercased. */
export function decodeHeaderPairs(block: Buffer): Map<string, string> | undefined {
  if (block.length < 4) return undefined;
  const count = block.readUInt32BE(0);
  const out = new Map<string, string>();
  let at = 4;
  const str = (): string | undefined => {
    if (at + 4 > block.length) return undefined;
    const n = block.readUInt32BE(at);
    at += 4;
    if (at + n > block.length) return undefined;
    const s = block.subarray(at, at + n).toString('utf8');
    at += n;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = str();
    const value = str();
    if (name === undefined || value === undefined || name === '') return undefined;
    out.set(name.toLowerCase(), value);
  }
  return at === block.length ? out : undefined;
}

export function encodeHeaderPairs(headers: Iterable<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  let count = 0;
  for (const [name, value] of headers) {
    for (const s of [name.toLowerCase(), value]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length, 0);
      parts.push(len, b);
    }
    count++;
  }
  const head = Buffer.alloc(4);
  head.writeUInt32BE(count, 0);
  return Buffer.concat([head, ...parts]);
}

/**
 * One direction's compression context: SPDY compresses every header block of a session with one
 * zlib stream. Node's zlib streams are asynchronous, so calls are chained to keep their order.
 */
class HeaderCodec {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly z: zlib.Inflate | zlib.Deflate;
  private readonly out: Buffer[] = [];
  private failed = false;

  constructor(kind: 'inflate' | 'deflate') {
    this.z = kind === 'inflate' ? zlib.createInflate({ dictionary: SPDY3_DICTIONARY }) : zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
    this.z.on('data', (c: Buffer) => this.out.push(c));
    this.z.on('error', () => (this.failed = true));
  }

  /** The block through this context, or undefined once the context is broken (then the session must end). */
  run(block: Buffer): Promise<Buffer | undefined> {
    const next = this.chain.then(
      () =>
        new Promise<Buffer | undefined>((resolve) => {
          if (this.failed) return resolve(undefined);
          const onError = () => resolve(undefined);
          this.z.once('error', onError);
          this.z.write(block);
          this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            this.z.off('error', onError);
            const result = Buffer.concat(this.out.splice(0));
            resolve(this.failed ? undefined : result);
          });
        }),
    );
    this.chain = next;
    return next;
  }

  close(): void {
    this.z.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The session (server side).

/** A stream the client opened. Data from the client is emitted as 'data', its FIN as 'end'. */
export class SpdyStream extends EventEmitter {
  /** Our side has sent FIN (or the stream was reset). */
  localClosed = false;
  remoteClosed = false;
  reset = false;

  constructor(
    readonly id: number,
    readonly headers: SpdyHeaders,
    private readonly session: SpdySession,
  ) {
    super();
  }

  /** Sends data; returns false when the connection's buffer is full (wait for the session's 'drain'). */
  write(data: Buffer): boolean {
    if (this.localClosed) return true;
    let ok = true;
    // spdystream reads frames of any size, but keep them modest.
    for (let at = 0; at < data.length; at += 32 * 1024) ok = this.session.send(encodeData(this.id, data.subarray(at, at + 32 * 1024))) && ok;
    return ok;
  }

  /** Half-closes our side (FIN). */
  end(data?: Buffer): void {
    if (this.localClosed) return;
    if (data?.length) this.write(data);
    this.localClosed = true;
    this.session.send(encodeData(this.id, Buffer.alloc(0), true));
    this.session.maybeForget(this);
  }

  /** Resets the stream (RST_STREAM), e.g. for a frame that made no sense on it. */
  resetStream(status: number = RST.cancel): void {
    if (this.reset) return;
    this.reset = true;
    this.localClosed = true;
    this.remoteClosed = true;
    this.session.send(encodeRstStream(this.id, status));
    this.emit('reset', status);
    this.session.maybeForget(this);
  }
}

export interface SpdySessionEvents {
  /** A new stream (SYN_STREAM), already answered with SYN_REPLY. */
  stream: [SpdyStream];
  close: [];
}

/**
 * The server side of one SPDY connection over `conn` (a TCP socket after the upgrade, or the
 * byte stream tunnelled in a WebSocket). Streams are opened by the client only; each is
 * accepted with an empty SYN_REPLY, as the kubelet's spdystream server does. PING is echoed.
 */
export class SpdySession extends EventEmitter<SpdySessionEvents> {
  private readonly parser = new SpdyParser();
  private readonly inflate = new HeaderCodec('inflate');
  private readonly deflate = new HeaderCodec('deflate');
  private readonly streams = new Map<number, SpdyStream>();
  private lastStreamId = 0;
  private closed = false;
  /** Frames are handled in order, though header blocks decode asynchronously. */
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly conn: Duplex) {
    super();
    conn.on('data', (chunk: Buffer) => {
      const parsed = this.parser.push(chunk);
      for (const f of parsed.frames) this.work = this.work.then(() => this.handle(f));
      if (!parsed.ok) this.work = this.work.then(() => this.protocolError(parsed.error));
    });
    conn.on('end', () => this.close());
    conn.on('close', () => this.close());
    conn.on('error', () => this.close());
  }

  /** @internal */
  send(frame: Buffer): boolean {
    if (this.closed || this.conn.destroyed || this.conn.writableEnded) return true;
    return this.conn.write(frame);
  }

  /** Waits until the connection's write buffer has drained. */
  onDrain(cb: () => void): void {
    this.conn.once('drain', cb);
  }

  /** @internal forgets a stream once both sides are closed. */
  maybeForget(s: SpdyStream): void {
    if (s.localClosed && s.remoteClosed) this.streams.delete(s.id);
  }

  /** Ends the session: GOAWAY, then the connection. */
  close(goAwayStatus = 0): void {
    if (this.closed) return;
    if (!this.conn.destroyed && !this.conn.writableEnded) this.conn.write(encodeGoAway(this.lastStreamId, goAwayStatus));
    this.closed = true;
    for (const s of this.streams.values()) {
      s.remoteClosed = true;
      s.localClosed = true;
      s.emit('reset', RST.cancel);
    }
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.conn.end();
    this.emit('close');
  }

  private protocolError(_error: string): void {
    this.close(1);
  }

  private async handle(f: SpdyFrame): Promise<void> {
    if (this.closed) return;
    switch (f.type) {
      case 'synStream': {
        const raw = await this.inflate.run(f.headerBlock);
        // A broken compression context breaks every later header block: end the session.
        if (raw === undefined) return this.protocolError('header block does not decompress');
        const headers = decodeHeaderPairs(raw);
        // Client streams are odd and increasing.
        if (f.streamId % 2 === 0 || f.streamId <= this.lastStreamId || !headers) {
          this.send(encodeRstStream(f.streamId, headers ? RST.protocolError : RST.protocolError));
          return;
        }
        this.lastStreamId = f.streamId;
        const stream = new SpdyStream(f.streamId, headers, this);
        this.streams.set(f.streamId, stream);
        const reply = await this.deflate.run(encodeHeaderPairs([]));
        if (reply === undefined) return this.protocolError('header block does not compress');
        this.send(encodeSynReply(f.streamId, reply));
        if (f.flags & FLAG_FIN) stream.remoteClosed = true;
        this.emit('stream', stream);
        if (f.flags & FLAG_FIN) {
          stream.emit('end');
          this.maybeForget(stream);
        }
        return;
      }
      case 'synReply':
      case 'headers': {
        // Header blocks must still go through the context, to keep it in step.
        if ((await this.inflate.run(f.headerBlock)) === undefined) return this.protocolError('header block does not decompress');
        return;
      }
      case 'data': {
        const stream = this.streams.get(f.streamId);
        if (!stream || stream.remoteClosed) {
          this.send(encodeRstStream(f.streamId, stream ? RST.streamAlreadyClosed : RST.invalidStream));
          return;
        }
        if (f.data.length) stream.emit('data', f.data);
        if (f.flags & FLAG_FIN) {
          stream.remoteClosed = true;
          stream.emit('end');
          this.maybeForget(stream);
        }
        return;
      }
      case 'rstStream': {
        const stream = this.streams.get(f.streamId);
        if (!stream) return;
        stream.reset = true;
        stream.localClosed = true;
        stream.remoteClosed = true;
        this.streams.delete(f.streamId);
        stream.emit('reset', f.status);
        return;
      }
      case 'ping':
        // The client's pings (odd ids) are echoed; ours we never send.
        if (f.id % 2 === 1) this.send(encodePing(f.id));
        return;
      case 'goAway':
        this.close();
        return;
      default:
        return;
    }
  }
}
