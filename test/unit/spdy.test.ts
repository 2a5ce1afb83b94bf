import { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeHeaderPairs,
  encodeData,
  encodeGoAway,
  encodeHeaderPairs,
  encodePing,
  encodeRstStream,
  encodeSynStream,
  FLAG_FIN,
  MAX_FRAME_LENGTH,
  SPDY3_DICTIONARY,
  SpdyParser,
  SpdySession,
  type SpdyFrame,
  type SpdyStream,
} from '../../node-agent/spdy';

const control = (version: number, type: number, body: Buffer, flags = 0) => {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | version, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(body.length, 4);
  head[4] = flags;
  return Buffer.concat([head, body]);
};

describe('SpdyParser', () => {
  const cases: { name: string; input: Buffer; frames: Partial<SpdyFrame>[]; error?: RegExp }[] = [
    { name: 'a data frame with FIN', input: encodeData(3, Buffer.from('abc'), true), frames: [{ type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.from('abc') }] },
    { name: 'an empty data frame', input: encodeData(5, Buffer.alloc(0)), frames: [{ type: 'data', streamId: 5, flags: 0, data: Buffer.alloc(0) }] },
    { name: 'SYN_STREAM', input: encodeSynStream(1, Buffer.from([9, 9])), frames: [{ type: 'synStream', streamId: 1, associatedId: 0, headerBlock: Buffer.from([9, 9]) }] },
    { name: 'RST_STREAM', input: encodeRstStream(7, 5), frames: [{ type: 'rstStream', streamId: 7, status: 5 }] },
    { name: 'PING', input: encodePing(0xfffffffd), frames: [{ type: 'ping', id: 0xfffffffd }] },
    { name: 'GOAWAY', input: encodeGoAway(9, 1), frames: [{ type: 'goAway', lastGoodStreamId: 9, status: 1 }] },
    { name: 'SETTINGS and WINDOW_UPDATE are read and ignored', input: Buffer.concat([control(3, 4, Buffer.alloc(4)), control(3, 9, Buffer.alloc(8))]), frames: [{ type: 'settings' }, { type: 'windowUpdate' }] },
    { name: 'an unknown control type is ignored', input: control(3, 77, Buffer.from('x')), frames: [{ type: 'unknown', controlType: 77 }] },
    { name: 'two frames in one chunk', input: Buffer.concat([encodePing(1), encodeData(1, Buffer.from('x'))]), frames: [{ type: 'ping' }, { type: 'data' }] },
    { name: 'a wrong version is a protocol error', input: control(2, 6, Buffer.alloc(4)), frames: [], error: /unsupported SPDY version 2/ },
    { name: 'a short control frame is a protocol error', input: control(3, 3, Buffer.alloc(3)), frames: [], error: /needs 8/ },
    { name: 'a short SYN_STREAM is a protocol error', input: control(3, 1, Buffer.alloc(9)), frames: [], error: /needs 10/ },
    { name: 'a huge length is refused before buffering it', input: Buffer.from([0, 0, 0, 1, 0, 0xff, 0xff, 0xff]), frames: [], error: new RegExp(`larger than ${MAX_FRAME_LENGTH}`) },
    { name: 'a frame after a good one still fails alone', input: Buffer.concat([encodePing(1), control(9, 6, Buffer.alloc(4))]), frames: [{ type: 'ping' }], error: /version 9/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      // Act: byte by byte too, to prove frames split anywhere are reassembled.
      const whole = new SpdyParser().push(c.input);
      const split = new SpdyParser();
      const pieces = [...c.input].map((b) => split.push(Buffer.from([b])));

      // Assess
      expect(whole.frames).toHaveLength(c.frames.length);
      c.frames.forEach((f, i) => expect(whole.frames[i]).toMatchObject(f));
      expect(pieces.flatMap((p) => p.frames)).toEqual(whole.frames);
      if (c.error) {
        expect(whole.ok).toBe(false);
        expect(!whole.ok && whole.error).toMatch(c.error);
      } else expect(whole.ok).toBe(true);
    });
  }

  it('keeps failing after a protocol error', () => {
    const p = new SpdyParser();
    p.push(control(1, 6, Buffer.alloc(4)));
    expect(p.push(encodePing(1)).ok).toBe(false);
  });
});

describe('header blocks', () => {
  it('round-trips pairs, lowercasing names', () => {
    expect([...decodeHeaderPairs(encodeHeaderPairs([['StreamType', 'data'], ['port', '8080']]))!]).toEqual([['streamtype', 'data'], ['port', '8080']]);
  });
  const bad: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['count larger than the pairs', Buffer.from([0, 0, 0, 2, 0, 0, 0, 1, 97, 0, 0, 0, 0])],
    ['a length past the end', Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 97])],
    ['an empty name', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['trailing bytes', Buffer.concat([encodeHeaderPairs([['a', 'b']]), Buffer.from([1])])],
  ];
  for (const [name, block] of bad) it(`refuses ${name}`, () => expect(decodeHeaderPairs(block)).toBeUndefined());

  it('uses the SPDY/3 dictionary (the adler32 id in spdystream streams is 0xe3c6a7c2)', () => {
    // A zlib stream with a preset dictionary carries the dictionary's adler32 after its header.
    const compressed = zlib.deflateSync(Buffer.from('x'), { dictionary: SPDY3_DICTIONARY });
    expect(compressed.readUInt32BE(2).toString(16)).toBe('e3c6a7c2');
  });
});

/** Both ends of an in-memory connection. */
function pipePair(): [Duplex, Duplex] {
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
    });
  const ends: Duplex[] = [];
  ends.push(make(() => ends[1]!), make(() => ends[0]!));
  return [ends[0]!, ends[1]!];
}

/** A client side: its own compression context, frames it receives. */
function client(conn: Duplex) {
  const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  const received: SpdyFrame[] = [];
  const parser = new SpdyParser();
  conn.on('data', (c: Buffer) => received.push(...parser.push(c).frames));
  const block = (pairs: [string, string][]) =>
    new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      const onData = (c: Buffer) => out.push(c);
      deflate.on('data', onData);
      deflate.write(encodeHeaderPairs(pairs));
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        deflate.off('data', onData);
        resolve(Buffer.concat(out));
      });
    });
  return { received, block };
}

const tick = () => new Promise((r) => setTimeout(r, 150));

describe('SpdySession', () => {
  it('accepts a stream with SYN_REPLY, delivers its data and FIN, and echoes pings', async () => {
    // Prepare
    const [server, clientEnd] = pipePair();
    const session = new SpdySession(server);
    const streams: SpdyStream[] = [];
    const got: string[] = [];
    session.on('stream', (s) => {
      streams.push(s);
      s.on('data', (d: Buffer) => got.push(d.toString()));
      s.on('end', () => got.push('<fin>'));
    });
    const c = client(clientEnd);

    // Act
    clientEnd.write(encodeSynStream(1, await c.block([['streamType', 'data'], ['port', '80'], ['requestID', '0']])));
    clientEnd.write(encodeData(1, Buffer.from('hi'), true));
    clientEnd.write(encodePing(1));
    await tick();
    streams[0]!.end(Buffer.from('back'));
    await tick();

    // Assess
    expect(streams[0]!.headers.get('streamtype')).toBe('data');
    expect(got).toEqual(['hi', '<fin>']);
    expect(c.received.map((f) => f.type)).toEqual(['synReply', 'ping', 'data', 'data']);
    expect(c.received[2]).toMatchObject({ type: 'data', streamId: 1, data: Buffer.from('back') });
    expect(c.received[3]).toMatchObject({ type: 'data', streamId: 1, flags: FLAG_FIN });
  });

  it('resets a stream whose header block is malformed, and data for unknown streams; the session goes on', async () => {
    const [server, clientEnd] = pipePair();
    const session = new SpdySession(server);
    const opened: number[] = [];
    session.on('stream', (s) => opened.push(s.id));
    const c = client(clientEnd);
    // A valid zlib block of a malformed pair list (count 5, no pairs).
    const deflated = await new Promise<Buffer>((resolve) => {
      const d = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
      const out: Buffer[] = [];
      d.on('data', (x: Buffer) => out.push(x));
      d.write(Buffer.from([0, 0, 0, 5]));
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out)));
    });
    clientEnd.write(encodeSynStream(1, deflated));
    clientEnd.write(encodeData(99, Buffer.from('x')));
    clientEnd.write(encodePing(3));
    await tick();
    expect(opened).toEqual([]);
    expect(c.received.map((f) => f.type)).toEqual(['rstStream', 'rstStream', 'ping']);
  });

  it('ends the session with GOAWAY on a header block that does not decompress, or a protocol error', async () => {
    for (const bad of [encodeSynStream(1, Buffer.from('not zlib at all')), control(2, 6, Buffer.alloc(4))]) {
      const [server, clientEnd] = pipePair();
      const session = new SpdySession(server);
      let closed = false;
      session.on('close', () => (closed = true));
      const c = client(clientEnd);
      clientEnd.write(bad);
      await tick();
      expect(closed).toBe(true);
      expect(c.received.at(-1)).toMatchObject({ type: 'goAway', status: 1 });
    }
  });

  it('survives random bytes without throwing', async () => {
    for (let seed = 1; seed <= 50; seed++) {
      const [server, clientEnd] = pipePair();
      new SpdySession(server).on('stream', () => undefined);
      let x = seed;
      const bytes = Buffer.from(Buffer.alloc(64, 0).map(() => (x = (x * 1103515245 + 12345) & 0xff)));
      clientEnd.write(Buffer.concat([encodeSynStream(1, bytes.subarray(0, 20)), bytes]));
    }
    await tick();
  });
});
