/**
 * Fuzzing the decoder: whatever the bytes, decodeFrame either returns a frame or throws a
 * TransportProtocolError. Anything else (a RangeError, an AssertionError, a hang, a huge
 * allocation) is a bug. Seeds are fast-check's; a failure prints `seed` and `path` to replay.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, defaultCodecLimits, encodeFrame, frameFixedHeaderBytes, frameMagic, protocolVersionMax, resealFrame, type CodecLimits } from './codec.ts';
import { TransportProtocolError } from './errors.ts';
import { frameArb } from './messages.test-support.ts';

const runs = Number(process.env['PROPERTY_RUNS'] ?? 300);
const smallLimits: CodecLimits = { frameBytesMax: 64 * 1024, messagesPerFrameMax: 64, stringBytesMax: 64 };

/** Decodes, returning 'ok' or the error's code; fails the test on any other kind of throw. */
function decodeOutcome(bytes: Uint8Array, limits: CodecLimits = defaultCodecLimits): string {
  try {
    decodeFrame(bytes, limits);
    return 'ok';
  } catch (error) {
    if (!(error instanceof TransportProtocolError)) throw error;
    return error.code;
  }
}

const validFrame = frameArb(6).map(({ from, to, clusterId, messages }) =>
  encodeFrame({ protocolVersion: protocolVersionMax, clusterId, senderNodeId: from, recipientNodeId: to }, messages),
);

describe('decoder fuzz', () => {
  it('random bytes only produce typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(decodeOutcome(bytes, smallLimits)).not.toBe('ok');
      }),
      { numRuns: runs * 3 },
    );
  });

  it('random bodies behind a valid magic, version and checksum decode or fail typed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (body) => {
        const bytes = Buffer.alloc(frameFixedHeaderBytes + body.length);
        bytes.writeUInt32BE(frameMagic, 0);
        bytes.writeUInt16BE(protocolVersionMax, 4);
        bytes.set(body, frameFixedHeaderBytes);
        resealFrame(bytes);
        decodeOutcome(bytes, smallLimits);
      }),
      { numRuns: runs * 3 },
    );
  });

  it('every truncation of a valid frame fails typed', () => {
    fc.assert(
      fc.property(validFrame, (bytes) => {
        for (let length = 0; length < bytes.length; length++) {
          expect(decodeOutcome(bytes.subarray(0, length))).not.toBe('ok');
          // Resealed truncations get past the checksum and exercise every field's bounds check.
          const resealed = Buffer.from(bytes.subarray(0, length));
          if (length >= frameFixedHeaderBytes) resealFrame(resealed);
          decodeOutcome(resealed);
        }
      }),
      { numRuns: Math.ceil(runs / 5) },
    );
  });

  it('bit flips are caught by the checksum, and resealed bit flips decode or fail typed', () => {
    fc.assert(
      fc.property(validFrame, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), (frame, positions) => {
        const flipped = Buffer.from(frame);
        for (const position of positions) {
          const bit = position % (flipped.length * 8);
          flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        }
        if (flipped.equals(frame)) return;
        expect(decodeOutcome(flipped)).not.toBe('ok');
        resealFrame(flipped);
        decodeOutcome(flipped);
      }),
      { numRuns: runs * 2 },
    );
  });

  it('random byte overwrites and insertions in resealed frames decode or fail typed', () => {
    fc.assert(
      fc.property(validFrame, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 9 }), fc.boolean(), (frame, at, junk, insert) => {
        const position = frameFixedHeaderBytes + (at % Math.max(1, frame.length - frameFixedHeaderBytes));
        const mutated = insert
          ? Buffer.concat([frame.subarray(0, position), junk, frame.subarray(position)])
          : Buffer.concat([frame.subarray(0, position), junk, frame.subarray(Math.min(frame.length, position + junk.length))]);
        resealFrame(mutated);
        decodeOutcome(mutated, smallLimits);
      }),
      { numRuns: runs * 2 },
    );
  });
});
