/**
 * A bandwidth limit shared by concurrent transfers, and a stream stage that hashes, counts and
 * throttles what flows through it.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidArgumentError } from '../storage/errors.ts';
import type { Timers } from './ports.ts';

/**
 * Virtual scheduling: every reservation of n bytes pushes the time the link is free by
 * n / rate; a caller waits until its bytes' slot has come. Idle time earns at most `burstMs` of
 * credit, so a quiet link cannot save up an unbounded burst.
 */
export class BandwidthLimiter {
  private freeAtMs: number | undefined;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly timers: Timers,
    private readonly burstMs = 100,
  ) {
    if (!(bytesPerSecond > 0)) throw new InvalidArgumentError(`bandwidth limit must be positive, got ${bytesPerSecond}`);
  }

  /** Resolves when `bytes` more may be sent. */
  async acquire(bytes: number): Promise<void> {
    const now = this.timers.nowMs();
    const earliest = now - this.burstMs;
    const start = this.freeAtMs === undefined || this.freeAtMs < earliest ? earliest : this.freeAtMs;
    this.freeAtMs = start + (bytes * 1000) / this.bytesPerSecond;
    const waitMs = this.freeAtMs - now;
    if (waitMs > 0) await this.timers.sleep(waitMs);
  }
}

/** Passes bytes through unchanged while computing their SHA-256 and count, honoring a limiter. */
export class HashingThrottle extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly limiter: BandwidthLimiter | undefined,
    private readonly onBytes: (bytes: number) => void = () => undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes(chunk.length);
    if (this.limiter === undefined) {
      callback(null, chunk);
      return;
    }
    this.limiter.acquire(chunk.length).then(
      () => callback(null, chunk),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** The hex SHA-256 of everything that passed. Call once, after the stream ended. */
  digestHex(): string {
    return this.hash.digest('hex');
  }
}

/** Runs `work` over `items` with at most `concurrency` in flight; the first failure rejects (after the in-flight ones settle). */
export async function forEachBounded<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new InvalidArgumentError(`concurrency must be a positive integer, got ${concurrency}`);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await work(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
