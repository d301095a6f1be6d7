/**
 * A token bucket in bytes shared by a node's outgoing snapshot streams (--snapshot-rate-bytes):
 * tokens refill at `bytesPerSecond` up to `burstBytes`; a taker subtracts its bytes at once (the
 * balance may go negative) and waits until its own debt is repaid, so concurrent streams queue
 * behind each other in the order they asked and together never exceed the rate (beyond one burst).
 * With a `pacer` (load-pacer.ts) the rate is `bytesPerSecond` times the pacer's current share
 * (between its floor and 1): the node's foreground work, when it suffers, slows the copies down.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface ByteRateLimiterOptions {
  readonly bytesPerSecond: number;
  /** Bytes that may pass without waiting after an idle period (default: a tenth of a second's worth, at least 64 KiB). */
  readonly burstBytes?: number;
  /** Milliseconds, monotonic (tests pass a fake). */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<unknown>;
  /** Scales the rate by its share (0 < share ≤ 1), asked at every take (load-pacer.ts). */
  readonly pacer?: { fraction(): number };
}

export class ByteRateLimiter {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
  private tokens: number;
  private refilledAt: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<unknown>;
  private readonly pacer: { fraction(): number } | undefined;

  constructor(options: ByteRateLimiterOptions) {
    if (!(options.bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${options.bytesPerSecond}`);
    this.bytesPerSecond = options.bytesPerSecond;
    this.burstBytes = Math.max(1, options.burstBytes ?? Math.max(64 * 1024, Math.floor(options.bytesPerSecond / 10)));
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => sleep(ms));
    this.pacer = options.pacer;
    this.tokens = this.burstBytes;
    this.refilledAt = this.now();
  }

  /** Resolves when `bytes` may be sent. */
  async take(bytes: number): Promise<void> {
    const now = this.now();
    const rate = this.currentBytesPerSecond();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.refilledAt) * rate) / 1000);
    this.refilledAt = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    await this.sleep((-this.tokens * 1000) / rate);
  }

  /** The rate now: the configured one, scaled by the pacer's share when there is a pacer. */
  currentBytesPerSecond(): number {
    if (this.pacer === undefined) return this.bytesPerSecond;
    const share = this.pacer.fraction();
    return this.bytesPerSecond * (share > 0 && share <= 1 ? share : 1);
  }
}

/** Largest piece passed through at once, so a 1 MiB read at a low rate does not go out as one burst. */
const pieceBytesMax = 64 * 1024;

/** `source`, paced by `limiter` (pieces of at most 64 KiB; each waits for its tokens before it is yielded). */
export async function* paced(source: AsyncIterable<Uint8Array>, limiter: ByteRateLimiter | undefined): AsyncGenerator<Uint8Array> {
  if (limiter === undefined) {
    yield* source;
    return;
  }
  for await (const chunk of source) {
    for (let offset = 0; offset < chunk.byteLength; offset += pieceBytesMax) {
      const piece = chunk.subarray(offset, Math.min(chunk.byteLength, offset + pieceBytesMax));
      await limiter.take(piece.byteLength);
      yield piece;
    }
  }
}
