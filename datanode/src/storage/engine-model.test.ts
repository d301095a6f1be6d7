import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Snapshot, StorageEngine, WriteBatch } from './engine.ts';
import { tempDir } from './testing/tmp.ts';

/** Property runs in CI; PROPERTY_RUNS for more. */
const runs = Number(process.env.PROPERTY_RUNS ?? 100);
const options = { memtableBytesMax: 64 * 1024, targetFileBytes: 16 * 1024, levelBaseBytes: 64 * 1024, l0CompactionTriggerFiles: 2, blockSizeBytes: 256 };

type Model = Map<string, string>;
const keyArb = fc.integer({ min: 0, max: 300 }).map((i) => `k${String(i).padStart(3, '0')}`);
const valueArb = fc.integer({ min: 0, max: 1_000_000 }).map((i) => `v${i}${'.'.repeat(i % 50)}`);
const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), k: keyArb, v: valueArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: keyArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('delRange' as const), a: keyArb, b: keyArb }) },
);
const cmdArb = fc.oneof(
  { weight: 10, arbitrary: fc.record({ c: fc.constant('batch' as const), ops: fc.array(opArb, { minLength: 1, maxLength: 60 }), sync: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('snapshot' as const) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('release' as const) }) },
  { weight: 3, arbitrary: fc.record({ c: fc.constant('check' as const), lo: keyArb, hi: keyArb, reverse: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('flush' as const) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('compact' as const) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('reopen' as const) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('checkpoint' as const) }) },
);

function applyOps(model: Model, ops: readonly ({ t: 'put'; k: string; v: string } | { t: 'del'; k: string } | { t: 'delRange'; a: string; b: string })[]): void {
  for (const op of ops) {
    if (op.t === 'put') model.set(op.k, op.v);
    else if (op.t === 'del') model.delete(op.k);
    else if (op.a < op.b) for (const k of [...model.keys()]) if (k >= op.a && k < op.b) model.delete(k);
  }
}

function expectedRange(model: Model, lo: string, hi: string): [string, string][] {
  return [...model.entries()].filter(([k]) => k >= lo && k < hi).sort(([a], [b]) => (a < b ? -1 : 1));
}

function actualRange(engine: StorageEngine, lo: string, hi: string, reverse: boolean, snapshot?: Snapshot): [string, string][] {
  const it = engine.iterator({ lowerBound: Buffer.from(lo), upperBound: Buffer.from(hi), ...(snapshot ? { snapshot } : {}) });
  const out: [string, string][] = [];
  if (reverse) for (it.seekToLast(); it.valid(); it.prev()) out.unshift([it.key().toString(), it.value().toString()]);
  else for (it.seekToFirst(); it.valid(); it.next()) out.push([it.key().toString(), it.value().toString()]);
  it.close();
  return out;
}

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('storage engine against an in-memory model', () => {
  it('agrees with an ordered map over random batches, snapshots, flushes, compactions, checkpoints and reopens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 5, maxLength: 60 }), async (cmds) => {
        const t = tempDir('model');
        cleanups.push(t.cleanup);
        let engine = await StorageEngine.open(path.join(t.dir, 'db'), options);
        const model: Model = new Map();
        const snapshots: { snap: Snapshot; model: Model }[] = [];
        let checkpoints = 0;
        try {
          for (const cmd of cmds) {
            switch (cmd.c) {
              case 'batch': {
                const b = new WriteBatch();
                const valid = cmd.ops.filter((o) => o.t !== 'delRange' || o.a < o.b);
                if (valid.length === 0) break;
                for (const o of valid) {
                  if (o.t === 'put') b.put(Buffer.from(o.k), Buffer.from(o.v));
                  else if (o.t === 'del') b.del(Buffer.from(o.k));
                  else b.delRange(Buffer.from(o.a), Buffer.from(o.b));
                }
                await engine.write(b, { sync: cmd.sync });
                applyOps(model, valid);
                break;
              }
              case 'snapshot':
                snapshots.push({ snap: engine.snapshot(), model: new Map(model) });
                break;
              case 'release':
                snapshots.shift()?.snap.release();
                break;
              case 'check': {
                const [lo, hi] = cmd.lo <= cmd.hi ? [cmd.lo, `${cmd.hi}~`] : [cmd.hi, `${cmd.lo}~`];
                expect(actualRange(engine, lo, hi, cmd.reverse)).toEqual(expectedRange(model, lo, hi));
                for (const k of [cmd.lo, cmd.hi]) expect(engine.get(Buffer.from(k))?.toString()).toBe(model.get(k));
                for (const s of snapshots) expect(actualRange(engine, lo, hi, cmd.reverse, s.snap)).toEqual(expectedRange(s.model, lo, hi));
                break;
              }
              case 'flush':
                await engine.flush();
                break;
              case 'compact':
                await engine.compactAll();
                break;
              case 'reopen':
                for (const s of snapshots.splice(0)) s.snap.release();
                await engine.close();
                engine = await StorageEngine.open(path.join(t.dir, 'db'), options);
                break;
              case 'checkpoint': {
                const cp = path.join(t.dir, `cp${checkpoints++}`);
                await engine.checkpoint(cp);
                const c = await StorageEngine.open(cp, options);
                expect(actualRange(c, '', '~', false)).toEqual(expectedRange(model, '', '~'));
                await c.close();
                break;
              }
            }
          }
          expect(actualRange(engine, '', '~', false)).toEqual(expectedRange(model, '', '~'));
          await engine.close();
          engine = await StorageEngine.open(path.join(t.dir, 'db'), options);
          expect(actualRange(engine, '', '~', true)).toEqual(expectedRange(model, '', '~'));
          expect(engine.verify()).toEqual([]);
        } finally {
          await engine.close();
          t.cleanup();
        }
      }),
      { numRuns: runs },
    );
  }, 600_000);
});
