/**
 * MVCC garbage collection: the threshold policy (TTL, protections, expiry, never backwards) and
 * what compaction of a node's engine then drops (old user versions only; range-local state and
 * each key's newest version at or below the threshold stay).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTimestamp, timestamp } from '../hlc/hlc.ts';
import { NodeMetrics } from '../metrics/node-metrics.ts';
import type { Entry } from '../raft/types.ts';
import { encodeCommand, type Command, type StoredProtection } from './command.ts';
import type { RangeDescriptor } from './descriptor.ts';
import { nextGcThreshold } from './gc.ts';
import { decodeUserVersionKey, rangeLocalKey, userBounds } from './keys.ts';
import { TempKvEngines } from './kv.test-support.ts';
import { KvStateMachine } from './state-machine.ts';

const engines = new TempKvEngines('gc');
afterEach(() => engines.cleanup());

const ts = (wallMs: number): bigint => encodeTimestamp(timestamp(wallMs));
const hour = 3600_000;
const protection = (id: string, wallMs: number, expiresAtMs: number): StoredProtection => ({ id, ts: ts(wallMs), reason: id, expiresAtMs });

describe('GC threshold policy', () => {
  const now = timestamp(100 * hour);
  it('is now minus the TTL without protections', () => {
    expect(nextGcThreshold({ now, gcTtlMs: 25 * hour, protections: [], nowMs: 0, current: undefined })).toBe(ts(75 * hour));
  });

  it('is held back to the oldest protection in force, and ignores expired ones', () => {
    const protections = [protection('chain/b1', 60 * hour, 200 * hour), protection('backup/b2', 90 * hour, 200 * hour), protection('stale', 10 * hour, 50 * hour)];
    expect(nextGcThreshold({ now, gcTtlMs: 25 * hour, protections, nowMs: 100 * hour, current: undefined })).toBe(ts(60 * hour));
    // Once the chain protection expired too, only the TTL holds it back.
    expect(nextGcThreshold({ now, gcTtlMs: 25 * hour, protections, nowMs: 201 * hour, current: undefined })).toBe(ts(75 * hour));
  });

  it('stays put while protections are unknown, or when it would not move forward', () => {
    expect(nextGcThreshold({ now, gcTtlMs: 25 * hour, protections: undefined, nowMs: 0, current: undefined })).toBeUndefined();
    expect(nextGcThreshold({ now, gcTtlMs: 25 * hour, protections: [], nowMs: 0, current: ts(80 * hour) })).toBeUndefined();
    expect(nextGcThreshold({ now, gcTtlMs: 25 * hour, protections: [], nowMs: 0, current: ts(70 * hour) })).toBe(ts(75 * hour));
  });
});

describe('GC in compaction of a node engine', () => {
  it('drops user versions shadowed below the threshold and keeps range-local state', async () => {
    const { kv } = await engines.open();
    const desc: RangeDescriptor = { rangeId: 2, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), generation: 0, replicas: [{ nodeId: 1, voter: true }] };
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(desc);
    const commands: Command[] = [
      { op: 'put', key: Buffer.from('a'), value: Buffer.from('a10'), ts: 10n },
      { op: 'put', key: Buffer.from('a'), value: Buffer.from('a20'), ts: 20n },
      { op: 'put', key: Buffer.from('a'), value: Buffer.from('a30'), ts: 30n },
      { op: 'put', key: Buffer.from('b'), value: Buffer.from('b11'), ts: 31n },
      { op: 'delete', key: Buffer.from('b'), ts: 32n },
      { op: 'put', key: Buffer.from('c'), value: Buffer.from('c40'), ts: 40n },
    ];
    await sm.apply(commands.map((command, i) => ({ kind: 'normal', index: i + 1, term: 1, data: encodeCommand(command) }) as Entry));
    await kv.flush();
    kv.engine.setMvccGcThreshold(35n);
    await kv.engine.compactAll();
    const { lower, upper } = userBounds(Buffer.alloc(0), Buffer.alloc(0));
    const it = kv.engine.iterator({ lowerBound: lower, upperBound: upper });
    const left: string[] = [];
    try {
      for (it.seek(lower); it.valid(); it.next()) {
        const version = decodeUserVersionKey(Buffer.from(it.key()));
        left.push(`${version.key.toString()}@${version.ts}`);
      }
    } finally {
      it.close();
    }
    // 'a': 30 is its newest at or below 35 (kept), 20 and 10 are garbage; 'b': its tombstone
    // at 32 shadows 31, and is itself garbage (nothing of 'b' is left below it, so every read
    // at or above the threshold sees 'b' absent without it); 'c' is above the threshold.
    expect(left).toEqual(['a@30', 'c@40']);
    expect(sm.get(Buffer.from('a'))?.toString()).toBe('a30');
    expect(sm.get(Buffer.from('a'), 35n)?.toString()).toBe('a30');
    expect(sm.get(Buffer.from('b'))).toBeUndefined();
    expect(sm.get(Buffer.from('b'), 35n)).toBeUndefined();
    expect(kv.engine.get(rangeLocalKey(2, 'desc'))).toBeDefined();
    expect(kv.engine.get(rangeLocalKey(2, 'applied'))).toBeDefined();
    expect(kv.engine.stats().mvccVersionsCollected).toBe(4);
    // What an operator sees on /metrics.
    const metrics = new NodeMetrics({ status: () => undefined, storage: () => kv.engine.stats() }, { nodeId: 1, clusterId: 'c1', processMetrics: false });
    expect(await metrics.exposition()).toMatch(/^phantomdb_storage_mvcc_versions_collected_total\{node="1"[^}]*\} 4$/m);
  });
});
