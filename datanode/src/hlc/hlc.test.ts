import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ClockOffsetExceededError,
  HybridLogicalClock,
  InvalidTimestampError,
  compareTimestamps,
  decodeTimestamp,
  encodeTimestamp,
  formatTimestamp,
  hlcLogicalMax,
  hlcWallMsMax,
  nextTimestamp,
  parseTimestamp,
  timestamp,
  timestampFromBytes,
  timestampToBytes,
  type HlcTimestamp,
} from './hlc.ts';

/** A physical clock the test moves by hand. */
class ManualClock {
  constructor(public ms: number) {}
  nowMs(): number {
    return this.ms;
  }
}

const arbitraryTimestamp = fc.record({ wallMs: fc.integer({ min: 0, max: hlcWallMsMax }), logical: fc.integer({ min: 0, max: hlcLogicalMax }) });

describe('HLC timestamps', () => {
  it('encode to 64 bits that order exactly like compareTimestamps, and decode back', () => {
    fc.assert(
      fc.property(arbitraryTimestamp, arbitraryTimestamp, (a, b) => {
        expect(decodeTimestamp(encodeTimestamp(a))).toEqual(a);
        const byInteger = encodeTimestamp(a) < encodeTimestamp(b) ? -1 : encodeTimestamp(a) > encodeTimestamp(b) ? 1 : 0;
        expect(byInteger).toBe(compareTimestamps(a, b));
        expect(Math.sign(Buffer.compare(timestampToBytes(a), timestampToBytes(b)))).toBe(compareTimestamps(a, b));
        expect(timestampFromBytes(timestampToBytes(a))).toEqual(a);
      }),
    );
  });

  it('round-trip through text, and refuse malformed text and out-of-range parts', () => {
    fc.assert(fc.property(arbitraryTimestamp, (ts) => void expect(parseTimestamp(formatTimestamp(ts))).toEqual(ts)));
    expect(formatTimestamp(timestamp(1700000000123, 7))).toBe('1700000000123.00007');
    for (const bad of ['', '12', '1.2.3', '-1.0', '01.0', '1.123456', 'x.1']) expect(() => parseTimestamp(bad)).toThrow(InvalidTimestampError);
    expect(() => timestamp(hlcWallMsMax + 1, 0)).toThrow(InvalidTimestampError);
    expect(() => timestamp(1, hlcLogicalMax + 1)).toThrow(InvalidTimestampError);
    expect(() => timestamp(1.5, 0)).toThrow(InvalidTimestampError);
    expect(() => decodeTimestamp(-1n)).toThrow(InvalidTimestampError);
    expect(() => timestampFromBytes(Buffer.alloc(7))).toThrow(InvalidTimestampError);
  });

  it('borrow the next millisecond when the logical counter would overflow', () => {
    expect(nextTimestamp(timestamp(5, hlcLogicalMax))).toEqual(timestamp(6, 0));
    expect(nextTimestamp(timestamp(5, 3))).toEqual(timestamp(5, 4));
  });
});

describe('HybridLogicalClock', () => {
  it('follows physical time when it moves and counts logically when it stalls or steps back', () => {
    const physical = new ManualClock(1000);
    const clock = new HybridLogicalClock(physical, { maxOffsetMs: 500 });
    expect(clock.now()).toEqual(timestamp(1000, 0));
    expect(clock.now()).toEqual(timestamp(1000, 1));
    physical.ms = 900; // NTP stepped the clock back
    expect(clock.now()).toEqual(timestamp(1000, 2));
    physical.ms = 1200;
    expect(clock.now()).toEqual(timestamp(1200, 0));
  });

  it('orders a receive after the remote send and after every local event', () => {
    const physical = new ManualClock(1000);
    const clock = new HybridLogicalClock(physical, { maxOffsetMs: 500 });
    clock.now();
    const received = clock.update(timestamp(1300, 4));
    expect(received).toEqual(timestamp(1300, 5));
    expect(clock.now()).toEqual(timestamp(1300, 6));
    // A remote timestamp behind us changes only the logical part.
    expect(clock.update(timestamp(10, 0))).toEqual(timestamp(1300, 7));
    physical.ms = 2000;
    expect(clock.update(timestamp(1999, 9))).toEqual(timestamp(2000, 0));
  });

  it('refuses a remote timestamp further ahead than the maximum offset and keeps its state', () => {
    const physical = new ManualClock(10_000);
    const clock = new HybridLogicalClock(physical, { maxOffsetMs: 250 });
    const before = clock.now();
    expect(clock.update(timestamp(10_250, 0))).toEqual(timestamp(10_250, 1));
    let caught: unknown;
    try {
      clock.update(timestamp(10_251 + 1, 0));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ClockOffsetExceededError);
    const error = caught as ClockOffsetExceededError;
    expect(error.code).toBe('PH_CLOCK_OFFSET_EXCEEDED');
    expect(error.message).toContain('252 ms ahead');
    expect(error.message).toContain('maximum clock offset is 250 ms');
    expect(compareTimestamps(clock.latest, before)).toBeGreaterThan(0);
    expect(clock.latest).toEqual(timestamp(10_250, 1));
  });

  it('hands out strictly increasing timestamps under any mix of physical jumps and receives (property)', () => {
    type Step = { readonly kind: 'tick'; readonly deltaMs: number } | { readonly kind: 'now' } | { readonly kind: 'recv'; readonly aheadMs: number; readonly logical: number };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('tick' as const), deltaMs: fc.integer({ min: -50, max: 50 }) }),
      fc.record({ kind: fc.constant('now' as const) }),
      fc.record({ kind: fc.constant('recv' as const), aheadMs: fc.integer({ min: -100, max: 120 }), logical: fc.integer({ min: 0, max: hlcLogicalMax }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps: Step[]) => {
        const physical = new ManualClock(1_000_000);
        const maxOffsetMs = 100;
        const clock = new HybridLogicalClock(physical, { maxOffsetMs });
        let previous: HlcTimestamp = clock.now();
        for (const s of steps) {
          if (s.kind === 'tick') {
            physical.ms = Math.max(0, physical.ms + s.deltaMs);
            continue;
          }
          if (s.kind === 'now') {
            const ts = clock.now();
            expect(compareTimestamps(ts, previous)).toBeGreaterThan(0);
            previous = ts;
            continue;
          }
          const remote = timestamp(Math.max(0, physical.ms + s.aheadMs), s.logical);
          if (s.aheadMs > maxOffsetMs) {
            expect(() => clock.update(remote)).toThrow(ClockOffsetExceededError);
            continue;
          }
          const ts = clock.update(remote);
          expect(compareTimestamps(ts, previous)).toBeGreaterThan(0);
          expect(compareTimestamps(ts, remote)).toBeGreaterThan(0);
          previous = ts;
        }
      }),
    );
  });

  it('refuses a bad maximum offset', () => {
    expect(() => new HybridLogicalClock(new ManualClock(0), { maxOffsetMs: 0 })).toThrow(InvalidTimestampError);
  });
});
