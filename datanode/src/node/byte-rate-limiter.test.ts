import { describe, expect, it } from 'vitest';
import { ByteRateLimiter, paced } from './byte-rate-limiter.ts';

const MiB = 1024 * 1024;

async function* chunks(count: number, bytes: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) yield Buffer.alloc(bytes, i);
}

/** Drains `source`, returning the bytes received and the elapsed milliseconds. */
async function drain(source: AsyncIterable<Uint8Array>): Promise<{ bytes: number; ms: number }> {
  const started = performance.now();
  let bytes = 0;
  for await (const piece of source) bytes += piece.byteLength;
  return { bytes, ms: performance.now() - started };
}

describe('ByteRateLimiter', () => {
  it('paces one snapshot-sized stream to the configured rate (measured over 3 MiB)', async () => {
    const rate = 4 * MiB;
    const limiter = new ByteRateLimiter({ bytesPerSecond: rate, burstBytes: 64 * 1024 });
    // 1 MiB chunks, like encodeSnapshotStream reads them.
    const { bytes, ms } = await drain(paced(chunks(3, MiB), limiter));
    expect(bytes).toBe(3 * MiB);
    const measured = bytes / (ms / 1000);
    // Never faster than the rate (one burst of credit aside); slower only by scheduling delays,
    // which a loaded machine may add, so the upper bound on the time is generous.
    const floorMs = ((bytes - limiter.burstBytes) / rate) * 1000;
    expect(ms, `measured ${(measured / MiB).toFixed(2)} MiB/s`).toBeGreaterThanOrEqual(floorMs * 0.97);
    expect(ms, `measured ${(measured / MiB).toFixed(2)} MiB/s`).toBeLessThan(floorMs * 3 + 2000);
  });

  it('shares the rate between concurrent streams', async () => {
    const rate = 4 * MiB;
    const limiter = new ByteRateLimiter({ bytesPerSecond: rate, burstBytes: 64 * 1024 });
    const started = performance.now();
    const results = await Promise.all([drain(paced(chunks(2, MiB), limiter)), drain(paced(chunks(4, MiB / 2), limiter))]);
    const ms = performance.now() - started;
    const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
    expect(bytes).toBe(4 * MiB);
    // Together at most the rate: 4 MiB at 4 MiB/s take a second (not half of it, as two unshared buckets would).
    const floorMs = ((bytes - limiter.burstBytes) / rate) * 1000;
    expect(ms, `measured ${(bytes / MiB / (ms / 1000)).toFixed(2)} MiB/s over both`).toBeGreaterThanOrEqual(floorMs * 0.97);
    expect(ms).toBeLessThan(floorMs * 3 + 2000);
    // Both made progress side by side: neither finished before the other had started (interleaved).
    expect(Math.min(...results.map((r) => r.ms))).toBeGreaterThan(floorMs / 3);
  });

  it('passes an idle burst at once and then waits for the debt (fake clock)', async () => {
    let now = 0;
    const waits: number[] = [];
    const limiter = new ByteRateLimiter({
      bytesPerSecond: 1000,
      burstBytes: 500,
      now: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
      },
    });
    await limiter.take(500);
    expect(waits).toEqual([]);
    await limiter.take(250);
    expect(waits).toEqual([250]);
    now += 10_000; // idle: refills only up to the burst
    await limiter.take(700);
    expect(waits).toEqual([250, 200]);
  });

  it('refuses a non-positive rate', () => {
    expect(() => new ByteRateLimiter({ bytesPerSecond: 0 })).toThrow(RangeError);
  });
});
