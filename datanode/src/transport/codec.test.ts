import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Message } from '../raft/types.ts';
import {
  decodeFrame,
  defaultCodecLimits,
  encodeFrame,
  frameHeaderBytes,
  messageEncodedBytes,
  messageKinds,
  protocolVersionMax,
  resealFrame,
  type FrameHeader,
} from './codec.ts';
import { TransportProtocolError } from './errors.ts';
import { frameArb, messageArbitraries } from './messages.test-support.ts';

const runs = Number(process.env['PROPERTY_RUNS'] ?? 300);

function headerFor(from: number, to: number, clusterId = 'cluster-a'): FrameHeader {
  return { protocolVersion: protocolVersionMax, clusterId, senderNodeId: from, recipientNodeId: to };
}

function decodeError(bytes: Uint8Array, limits = defaultCodecLimits): TransportProtocolError {
  try {
    decodeFrame(bytes, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(TransportProtocolError);
    return error as TransportProtocolError;
  }
  throw new Error('expected decodeFrame to fail');
}

describe('codec round trip', () => {
  it('decodes what it encodes, for frames of random messages of every kind', () => {
    fc.assert(
      fc.property(frameArb(), ({ from, to, clusterId, messages }) => {
        const header = headerFor(from, to, clusterId);
        const bytes = encodeFrame(header, messages);
        const decoded = decodeFrame(bytes);
        expect(decoded.header).toEqual(header);
        expect(decoded.messages).toEqual(messages);
      }),
      { numRuns: runs },
    );
  });

  it('round-trips each kind on its own, and computes exact sizes', () => {
    for (const kind of messageKinds) {
      const arbitrary = messageArbitraries({ groupId: 7, from: 1, to: 2 })[kind];
      fc.assert(
        fc.property(arbitrary, (message) => {
          const bytes = encodeFrame(headerFor(1, 2), [message]);
          expect(bytes.byteLength).toBe(frameHeaderBytes(headerFor(1, 2), 1) + messageEncodedBytes(message));
          const decoded = decodeFrame(bytes).messages;
          expect(decoded).toEqual([message]);
          expect(decoded[0]?.kind).toBe(kind);
        }),
        { numRuns: Math.ceil(runs / 3) },
      );
    }
  });

  it('copies entry data out of the frame', () => {
    const message: Message = {
      kind: 'Append', groupId: 1, from: 1, to: 2, term: 3, prevLogIndex: 4, prevLogTerm: 3, commit: 4,
      entries: [{ term: 3, index: 5, kind: 'normal', data: new Uint8Array([1, 2, 3]) }],
    };
    const bytes = encodeFrame(headerFor(1, 2), [message]);
    const decoded = decodeFrame(bytes).messages[0];
    bytes.fill(0);
    expect(decoded?.kind === 'Append' ? [...(decoded.entries[0]?.data ?? [])] : []).toEqual([1, 2, 3]);
  });

  it('keeps heartbeats of many groups compact in one frame', () => {
    const heartbeats: Message[] = [];
    for (let groupId = 1; groupId <= 1000; groupId++) {
      heartbeats.push({ kind: 'Heartbeat', groupId, from: 1, to: 2, term: 5, commit: 1000 + groupId, context: '', sentTick: 77 });
    }
    const bytes = encodeFrame(headerFor(1, 2), heartbeats);
    // kind + group + term + commit + empty context + tick: about 9 bytes a heartbeat.
    expect(bytes.byteLength).toBeLessThan(10 * 1000 + 64);
  });

  it('carries the quiesce mark of a heartbeat from version 2 on; version 1 sends a plain heartbeat and refuses the version-2 code', () => {
    const quiesce: Message = { kind: 'Heartbeat', groupId: 4, from: 1, to: 2, term: 3, commit: 9, context: '', sentTick: 12, quiesce: true };
    const v2 = encodeFrame({ ...headerFor(1, 2), protocolVersion: 2 }, [quiesce]);
    expect(decodeFrame(v2).messages).toEqual([quiesce]);
    const v1Header = { ...headerFor(1, 2), protocolVersion: 1 };
    const v1 = encodeFrame(v1Header, [quiesce]);
    expect(v1.byteLength).toBe(v2.byteLength);
    const { quiesce: _dropped, ...plain } = quiesce;
    expect(decodeFrame(v1).messages).toEqual([plain]);
    // A version-1 frame holding the version-2 code is malformed for a version-1 peer.
    const forged = Buffer.from(v2);
    forged.writeUInt16BE(1, 4);
    resealFrame(forged);
    expect(decodeError(forged).code).toBe('PH_TRANSPORT_UNKNOWN_MESSAGE_KIND');
  });
});

describe('codec validation', () => {
  const valid = (): Buffer =>
    encodeFrame(headerFor(1, 2), [{ kind: 'Heartbeat', groupId: 9, from: 1, to: 2, term: 1, commit: 0, context: 'x', sentTick: 1 }]);

  it('rejects frames over frameBytesMax before reading them', () => {
    const error = decodeError(Buffer.alloc(1000), { ...defaultCodecLimits, frameBytesMax: 999 });
    expect(error.code).toBe('PH_TRANSPORT_LIMIT_EXCEEDED');
    expect(error.reason).toBe('frame-limit');
  });

  it('rejects a bad magic, a bad checksum and an unsupported version with distinct errors', () => {
    const badMagic = valid();
    badMagic[0] = 0;
    expect(decodeError(badMagic).reason).toBe('bad-magic');
    const badChecksum = valid();
    badChecksum[badChecksum.length - 1] = (badChecksum[badChecksum.length - 1] ?? 0) ^ 1;
    expect(decodeError(badChecksum).reason).toBe('checksum');
    const otherVersion = valid();
    otherVersion.writeUInt16BE(protocolVersionMax + 1, 4);
    expect(decodeError(otherVersion).code).toBe('PH_TRANSPORT_VERSION_MISMATCH');
  });

  it('rejects unknown message kinds with their own code', () => {
    const bytes = valid();
    const kindOffset = frameHeaderBytes(headerFor(1, 2), 1);
    bytes[kindOffset] = 200;
    resealFrame(bytes);
    expect(decodeError(bytes).code).toBe('PH_TRANSPORT_UNKNOWN_MESSAGE_KIND');
  });

  it('rejects more messages than messagesPerFrameMax, and huge counts without allocating', () => {
    const many: Message[] = [];
    for (let i = 0; i < 11; i++) many.push({ kind: 'TimeoutNow', groupId: i, from: 1, to: 2, term: 1 });
    const error = decodeError(encodeFrame(headerFor(1, 2), many), { ...defaultCodecLimits, messagesPerFrameMax: 10 });
    expect(error.code).toBe('PH_TRANSPORT_LIMIT_EXCEEDED');

    // A frame that claims 2^50 messages (or entries) in a few bytes is refused at once.
    const header = headerFor(1, 2);
    const countOffset = frameHeaderBytes(header, 0) - 1;
    const huge = Buffer.concat([encodeFrame(header, []).subarray(0, countOffset), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])]);
    resealFrame(huge);
    expect(decodeError(huge, { ...defaultCodecLimits, messagesPerFrameMax: Number.MAX_SAFE_INTEGER }).reason).toBe('truncated');
    const hugeEntries = Buffer.concat([
      encodeFrame(header, []).subarray(0, countOffset),
      Buffer.from([1, 5, 1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    ]);
    resealFrame(hugeEntries);
    expect(decodeError(hugeEntries).reason).toBe('truncated');
  });

  it('rejects strings over stringBytesMax, invalid UTF-8, bad booleans, overlong varints and trailing bytes', () => {
    const long = encodeFrame(headerFor(1, 2, 'c'.repeat(100)), []);
    expect(decodeError(long, { ...defaultCodecLimits, stringBytesMax: 99 }).reason).toBe('string-limit');

    const header = headerFor(1, 2, 'ab');
    const badUtf8 = encodeFrame(header, []);
    badUtf8[13] = 0xff;
    resealFrame(badUtf8);
    expect(decodeError(badUtf8).reason).toBe('bad-utf8');

    const vote = encodeFrame(header, [{ kind: 'VoteResponse', groupId: 1, from: 1, to: 2, term: 1, reject: true }]);
    vote[vote.length - 1] = 2;
    resealFrame(vote);
    expect(decodeError(vote).reason).toBe('bad-bool');

    const overlong = Buffer.concat([encodeFrame(header, []).subarray(0, frameHeaderBytes(header, 0) - 1), Buffer.from([0x80, 0x00])]);
    resealFrame(overlong);
    expect(decodeError(overlong).reason).toBe('overlong-varint');

    const trailing = Buffer.concat([valid(), Buffer.from([0])]);
    resealFrame(trailing);
    expect(decodeError(trailing).reason).toBe('trailing-bytes');
  });

  it('rejects append entries whose terms go backwards or exceed the message term', () => {
    const header = headerFor(1, 2);
    const append: Message = {
      kind: 'Append', groupId: 1, from: 1, to: 2, term: 5, prevLogIndex: 0, prevLogTerm: 0, commit: 0,
      entries: [{ term: 5, index: 1, kind: 'normal', data: new Uint8Array(0) }],
    };
    const bytes = encodeFrame(header, [append]);
    // The entry's term is the byte after kind, group, term, prevLogIndex, prevLogTerm, commit, count.
    const entryTermOffset = frameHeaderBytes(header, 1) + 7;
    expect(bytes[entryTermOffset]).toBe(5);
    bytes[entryTermOffset] = 6;
    resealFrame(bytes);
    expect(decodeError(bytes).reason).toBe('entry-term-order');
  });
});
