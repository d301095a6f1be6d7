/**
 * A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014): timestamps that
 * stay close to physical time, never go backwards on one node, and order every event after the
 * events it could have seen (a message's receive is later than its send).
 *
 * Pure: the physical clock is injected, so tests and simulations drive time themselves.
 *
 * A timestamp is (wallMs, logical). It packs into one unsigned 64-bit integer, wall time in the
 * high 48 bits and the logical counter in the low 16, so it can be the `ts` of an MVCC key
 * (storage/mvcc.ts) and compares as a plain integer. 48 bits of milliseconds last until the
 * year 10889. When the logical counter would pass 65535 within one millisecond, the clock
 * borrows the next millisecond instead (the wall part then runs ahead of physical time by at
 * most what the borrowing needed; it is still bounded by the maximum offset check on receive).
 */
import { PhantomError } from '../errors.ts';

export const hlcWallMsMax = 2 ** 48 - 1;
export const hlcLogicalMax = 0xffff;
const logicalBits = 16n;

/** One hybrid logical clock reading. Immutable. */
export interface HlcTimestamp {
  /** Milliseconds since the Unix epoch (physical part), 0 <= wallMs <= hlcWallMsMax. */
  readonly wallMs: number;
  /** Orders events within one millisecond, 0 <= logical <= hlcLogicalMax. */
  readonly logical: number;
}

/** The physical clock the HLC follows. */
export interface PhysicalClock {
  nowMs(): number;
}

export const systemPhysicalClock: PhysicalClock = { nowMs: () => Date.now() };

export const zeroTimestamp: HlcTimestamp = Object.freeze({ wallMs: 0, logical: 0 });

/**
 * A remote timestamp is further ahead of this node's physical clock than the allowed maximum
 * offset: one of the two clocks is wrong. Taking it would drag this node's clock forward past the
 * bound every lease and stale read relies on, so it is refused; the node should not serve
 * until an operator fixes the clock (NTP).
 */
export class ClockOffsetExceededError extends PhantomError {
  readonly code = 'PH_CLOCK_OFFSET_EXCEEDED';
  override readonly name = 'ClockOffsetExceededError';
  constructor(
    readonly remote: HlcTimestamp,
    readonly physicalMs: number,
    readonly maxOffsetMs: number,
  ) {
    super(
      `remote timestamp ${formatTimestamp(remote)} is ${remote.wallMs - physicalMs} ms ahead of this node's clock (${physicalMs}); ` +
        `the maximum clock offset is ${maxOffsetMs} ms — check NTP on both nodes`,
    );
  }
}

/** A timestamp that is malformed or out of range (a caller's error). */
export class InvalidTimestampError extends PhantomError {
  readonly code = 'PH_INVALID_ARGUMENT';
  override readonly name = 'InvalidTimestampError';
}

function checkTimestamp(ts: HlcTimestamp): void {
  if (!Number.isInteger(ts.wallMs) || ts.wallMs < 0 || ts.wallMs > hlcWallMsMax) throw new InvalidTimestampError(`HLC wall time ${ts.wallMs} is not an integer in [0, 2^48)`);
  if (!Number.isInteger(ts.logical) || ts.logical < 0 || ts.logical > hlcLogicalMax) throw new InvalidTimestampError(`HLC logical ${ts.logical} is not an integer in [0, 65535]`);
}

/** Builds a checked timestamp. */
export function timestamp(wallMs: number, logical = 0): HlcTimestamp {
  const ts = { wallMs, logical };
  checkTimestamp(ts);
  return Object.freeze(ts);
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function compareTimestamps(a: HlcTimestamp, b: HlcTimestamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return 0;
}

/** The later of two timestamps. */
export function maxTimestamp(a: HlcTimestamp, b: HlcTimestamp): HlcTimestamp {
  return compareTimestamps(a, b) >= 0 ? a : b;
}

/** The timestamp right after `ts` (the next logical tick, borrowing a millisecond on overflow). */
export function nextTimestamp(ts: HlcTimestamp): HlcTimestamp {
  if (ts.logical < hlcLogicalMax) return timestamp(ts.wallMs, ts.logical + 1);
  return timestamp(ts.wallMs + 1, 0);
}

/** Packs a timestamp into an unsigned 64-bit integer that orders like compareTimestamps. */
export function encodeTimestamp(ts: HlcTimestamp): bigint {
  checkTimestamp(ts);
  return (BigInt(ts.wallMs) << logicalBits) | BigInt(ts.logical);
}

/** Inverse of encodeTimestamp. Throws InvalidTimestampError outside [0, 2^64). */
export function decodeTimestamp(encoded: bigint): HlcTimestamp {
  if (encoded < 0n || encoded > 0xffff_ffff_ffff_ffffn) throw new InvalidTimestampError(`encoded HLC timestamp ${encoded} is outside the unsigned 64-bit range`);
  return timestamp(Number(encoded >> logicalBits), Number(encoded & BigInt(hlcLogicalMax)));
}

/** The 8-byte big-endian form (sorts bytewise like the timestamps). */
export function timestampToBytes(ts: HlcTimestamp): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(encodeTimestamp(ts));
  return out;
}

/** Inverse of timestampToBytes. */
export function timestampFromBytes(bytes: Buffer): HlcTimestamp {
  if (bytes.length !== 8) throw new InvalidTimestampError(`an HLC timestamp is 8 bytes, got ${bytes.length}`);
  return decodeTimestamp(bytes.readBigUInt64BE(0));
}

/** Text form for status fields and logs: `<wallMs>.<logical>` with the logical part 5 digits wide. */
export function formatTimestamp(ts: HlcTimestamp): string {
  return `${ts.wallMs}.${String(ts.logical).padStart(5, '0')}`;
}

const textPattern = /^(0|[1-9][0-9]{0,14})\.([0-9]{1,5})$/;

/** Inverse of formatTimestamp. Throws InvalidTimestampError on malformed text. */
export function parseTimestamp(text: string): HlcTimestamp {
  const match = textPattern.exec(text);
  if (match === null) throw new InvalidTimestampError(`malformed HLC timestamp "${text}" (expected <wallMs>.<logical>)`);
  return timestamp(Number(match[1]), Number(match[2]));
}

export interface HlcOptions {
  /** A remote timestamp more than this far ahead of the physical clock is refused. */
  readonly maxOffsetMs: number;
}

/**
 * One node's hybrid logical clock. `now()` stamps a local event or an outgoing message;
 * `update(remote)` folds in a received timestamp. Both return a timestamp strictly greater than
 * every one this clock returned before, whatever the physical clock does (it may stall or step
 * back; the HLC then keeps its wall part and counts logically).
 */
export class HybridLogicalClock {
  private last: HlcTimestamp = zeroTimestamp;

  constructor(
    private readonly physical: PhysicalClock,
    private readonly options: HlcOptions,
  ) {
    if (!(Number.isInteger(options.maxOffsetMs) && options.maxOffsetMs > 0)) throw new InvalidTimestampError(`maxOffsetMs must be a positive integer, got ${options.maxOffsetMs}`);
  }

  /** The newest timestamp this clock has handed out (or observed). */
  get latest(): HlcTimestamp {
    return this.last;
  }

  get maxOffsetMs(): number {
    return this.options.maxOffsetMs;
  }

  /** A timestamp for a local event: physical time when it moved on, else the next logical tick. */
  now(): HlcTimestamp {
    const physicalMs = this.readPhysical();
    const next = physicalMs > this.last.wallMs ? timestamp(physicalMs, 0) : nextTimestamp(this.last);
    this.last = next;
    return next;
  }

  /**
   * Folds in a timestamp received from another node and returns the receive timestamp, which is
   * greater than both `remote` and everything this clock handed out before. Throws
   * ClockOffsetExceededError (and changes nothing) when `remote` is more than maxOffsetMs ahead
   * of this node's physical clock.
   */
  update(remote: HlcTimestamp): HlcTimestamp {
    checkTimestamp(remote);
    const physicalMs = this.readPhysical();
    if (remote.wallMs - physicalMs > this.options.maxOffsetMs) throw new ClockOffsetExceededError(remote, physicalMs, this.options.maxOffsetMs);
    const newest = maxTimestamp(this.last, remote);
    const next = physicalMs > newest.wallMs ? timestamp(physicalMs, 0) : nextTimestamp(newest);
    this.last = next;
    return next;
  }

  private readPhysical(): number {
    const ms = this.physical.nowMs();
    if (!Number.isFinite(ms) || ms < 0 || ms > hlcWallMsMax) throw new InvalidTimestampError(`physical clock returned ${ms}, outside [0, 2^48) ms`);
    return Math.floor(ms);
  }
}
