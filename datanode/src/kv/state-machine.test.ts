/**
 * The per-range state machine on the shared engine: the key layout keeps ranges apart, a split
 * is applied correctly on both sides (and replayed idempotently), writes that raced a split
 * answer range-mismatch without effect, and a data directory of the old layout is refused.
 */
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeConfChange } from '../raft/confchange.ts';
import { simpleConfState, type ConfChange, type Entry } from '../raft/types.ts';
import { StorageEngine, WriteBatch } from '../storage/engine.ts';
import { encodeCommand, type Command } from './command.ts';
import { lookupDescriptor, metaRangeId, type RangeDescriptor } from './descriptor.ts';
import { mvccKeyPrefix } from '../storage/mvcc.ts';
import { decodeUserVersionKey, encodeU64, encodeVersionValue, rangeLocalEnd, rangeLocalKey, rangeLocalStart, tombstoneKey, userBounds, userKey, userVersionKey } from './keys.ts';
import { TempKvEngines } from './kv.test-support.ts';
import { configAfter, KvEngine, KvStateMachine } from './state-machine.ts';

const engines = new TempKvEngines('sm');
afterEach(() => engines.cleanup());
const openEngine = (dir?: string) => engines.open(dir);

const replicas = [
  { nodeId: 1, voter: true },
  { nodeId: 2, voter: true },
  { nodeId: 3, voter: true },
];
const whole: RangeDescriptor = { rangeId: 2, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), generation: 0, replicas };

let nextIndex = 1;
function entries(commands: readonly Command[]): Entry[] {
  return commands.map((command) => ({ kind: 'normal', index: nextIndex++, term: 1, data: encodeCommand(command) }) as Entry);
}
const put = (key: string, value: string): Command => ({ op: 'put', key: Buffer.from(key), value: Buffer.from(value) });
const split = (at: string, generation = 0): Command => ({ op: 'split', rangeId: 2, generation, splitKey: Buffer.from(at), newRangeId: 9, replicas });

/** Every user version in the engine, in engine order. */
function userEntries(kv: KvEngine): { key: string; ts: bigint }[] {
  const { lower, upper } = userBounds(Buffer.alloc(0), Buffer.alloc(0));
  const it = kv.engine.iterator({ lowerBound: lower, upperBound: upper });
  const out: { key: string; ts: bigint }[] = [];
  try {
    for (it.seek(lower); it.valid(); it.next()) {
      const { key, ts } = decodeUserVersionKey(Buffer.from(it.key()));
      out.push({ key: key.toString('latin1'), ts });
    }
  } finally {
    it.close();
  }
  return out;
}

function keysOf(sm: KvStateMachine, start = '', end = ''): string[] {
  return sm.scan(Buffer.from(start), Buffer.from(end), 1000, 1 << 20).rows.map((row) => row.key.toString());
}

describe('key layout', () => {
  it('keeps range-local state of neighbouring ranges and user keys apart, in order', () => {
    expect(Buffer.compare(rangeLocalKey(2, 'zzzz'), rangeLocalStart(3))).toBeLessThan(0);
    expect(rangeLocalEnd(2).equals(rangeLocalStart(3))).toBe(true);
    expect(Buffer.compare(rangeLocalEnd(2 ** 40), userKey(Buffer.alloc(0)))).toBeLessThan(0);
    const { lower, upper } = userBounds(Buffer.from('b'), Buffer.alloc(0));
    expect(Buffer.compare(lower, mvccKeyPrefix(userKey(Buffer.from('b'))))).toBe(0);
    expect(Buffer.compare(userVersionKey(Buffer.from('\xff\xff', 'latin1'), 0n), upper)).toBeLessThan(0);
    // Every version of a key lies within its bounds, and those of a key with a 0x00 byte too.
    const inner = userBounds(Buffer.from('a'), Buffer.from('a\x00', 'latin1'));
    for (const ts of [0n, 1n, 2n ** 64n - 1n]) {
      expect(Buffer.compare(inner.lower, userVersionKey(Buffer.from('a'), ts))).toBeLessThanOrEqual(0);
      expect(Buffer.compare(userVersionKey(Buffer.from('a'), ts), inner.upper)).toBeLessThan(0);
      expect(Buffer.compare(userVersionKey(Buffer.from('a\x00', 'latin1'), ts), inner.upper)).toBeGreaterThanOrEqual(0);
    }
  });

  it('looks a key up in the newest descriptor that holds it', () => {
    const stale = whole;
    const left: RangeDescriptor = { ...whole, endKey: Buffer.from('m'), generation: 1 };
    const right: RangeDescriptor = { ...whole, rangeId: 9, startKey: Buffer.from('m'), generation: 1 };
    const meta: RangeDescriptor = { ...whole, rangeId: metaRangeId };
    expect(lookupDescriptor([meta, stale, right, left], Buffer.from('a'))?.rangeId).toBe(2);
    expect(lookupDescriptor([meta, stale, left, right], Buffer.from('m'))?.rangeId).toBe(9);
    expect(lookupDescriptor([meta, stale, left, right], Buffer.from('zz'))?.rangeId).toBe(9);
    expect(lookupDescriptor([meta], Buffer.from('a'))).toBeUndefined();
    expect(lookupDescriptor([left], Buffer.from('q'))).toBeUndefined();
  });
});

describe('range state machine', () => {
  it('splits: the left keeps [start, key), the right gets [key, end) with the same data and no copy', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    const created: RangeDescriptor[] = [];
    sm.onSplit((_, right) => {
      created.push(right);
      return Promise.resolve();
    });
    await sm.apply(entries(['a', 'f', 'k', 'p', 'u'].map((k) => put(k, `v-${k}`))));
    const [result] = await sm.apply(entries([split('k')]));
    expect(result).toMatchObject({ op: 'split', ok: true });
    expect(created.map((d) => d.rangeId)).toEqual([9]);
    expect(sm.descriptor()).toMatchObject({ rangeId: 2, generation: 1, endKey: Buffer.from('k') });
    const right = new KvStateMachine(kv.engine, 9);
    expect(right.descriptor()).toMatchObject({ rangeId: 9, generation: 1, startKey: Buffer.from('k'), endKey: Buffer.alloc(0) });
    expect(right.descriptor()?.replicas).toEqual(replicas);
    expect(keysOf(sm, '', 'k')).toEqual(['a', 'f']);
    expect(keysOf(right, 'k', '')).toEqual(['k', 'p', 'u']);
    expect(right.get(Buffer.from('p'))?.toString()).toBe('v-p');
    // Each side refuses keys of the other.
    expect(() => sm.get(Buffer.from('p'))).toThrow(/PH_RANGE_MISMATCH|outside range/);
    expect(() => right.get(Buffer.from('a'))).toThrow(/outside range/);
    expect(() => sm.scan(Buffer.from('a'), Buffer.alloc(0), 10, 1 << 20)).toThrow(/outside range/);
  });

  it('reads the writes made earlier in the same apply (deletes and compare-and-sets see them, within a batch and across entries)', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    await sm.apply(entries([put('old', 'stored')]));
    const cas = (key: string, expected: string | null, value: string): Command => ({ op: 'cas', key: Buffer.from(key), expected: expected === null ? null : Buffer.from(expected), value: Buffer.from(value) });
    const del = (key: string): Command => ({ op: 'delete', key: Buffer.from(key) });
    const results = await sm.apply(
      entries([
        { op: 'batch', commands: [put('a', '1'), put('b', 'x'), cas('a', '1', '2'), cas('a', '1', 'no'), del('b'), del('b'), cas('b', null, 'y')] },
        cas('a', '2', '3'),
        { op: 'batch', commands: [del('old'), cas('old', null, 'again'), put('c', '1'), put('c', '2'), cas('c', '2', '3')] },
      ]),
    );
    expect(results).toEqual([
      {
        op: 'batch',
        results: [
          { op: 'put' },
          { op: 'put' },
          { op: 'cas', ok: true, current: Buffer.from('1') },
          { op: 'cas', ok: false, current: Buffer.from('2') },
          { op: 'delete', existed: true },
          { op: 'delete', existed: false },
          { op: 'cas', ok: true, current: null },
        ],
      },
      { op: 'cas', ok: true, current: Buffer.from('2') },
      {
        op: 'batch',
        results: [{ op: 'delete', existed: true }, { op: 'cas', ok: true, current: null }, { op: 'put' }, { op: 'put' }, { op: 'cas', ok: true, current: Buffer.from('2') }],
      },
    ]);
    expect(sm.get(Buffer.from('a'))?.toString()).toBe('3');
    expect(sm.get(Buffer.from('b'))?.toString()).toBe('y');
    expect(sm.get(Buffer.from('c'))?.toString()).toBe('3');
    expect(sm.get(Buffer.from('old'))?.toString()).toBe('again');
  });

  it('bumps the descriptor generation with each configuration change (persisted, replicas from the resulting configuration)', async () => {
    nextIndex = 1;
    const opened = await openEngine();
    let kv = opened.kv;
    let sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    const conf = (change: ConfChange): Entry => ({ kind: 'conf-change', index: nextIndex++, term: 1, data: encodeConfChange(change) });
    // Add node 4 as a learner, then promote it and demote node 1 through a joint configuration (two entries: enter, leave).
    await sm.apply([conf({ changes: [{ op: 'add-learner', nodeId: 4 }], transition: 'auto' })], simpleConfState([1, 2, 3]));
    expect(sm.descriptor()).toMatchObject({ generation: 1 });
    expect(sm.descriptor()?.replicas).toEqual([...replicas, { nodeId: 4, voter: false }]);
    // The configuration a later apply of the same Ready starts from (the replica applies durable entries first).
    expect(configAfter(simpleConfState([1, 2, 3]), [conf({ changes: [{ op: 'add-learner', nodeId: 5 }], transition: 'auto' }), ...entries([put('x', '1')])])).toEqual(simpleConfState([1, 2, 3], [5]));
    nextIndex -= 2;
    const results = await sm.apply(
      [conf({ changes: [{ op: 'add-voter', nodeId: 4 }, { op: 'add-learner', nodeId: 1 }], transition: 'auto' }), ...entries([put('a', '1')]), conf({ changes: [], transition: 'auto' })],
      simpleConfState([1, 2, 3], [4]),
    );
    expect(results.map((r) => r?.op)).toEqual(['conf-change', 'put', 'conf-change']);
    expect(sm.descriptor()).toMatchObject({ generation: 3 });
    expect(sm.descriptor()?.replicas).toEqual([2, 3, 4].map((nodeId) => ({ nodeId, voter: true })).concat([{ nodeId: 1, voter: false }]));
    // A split proposed at the generation before the moves is refused; at the current one it applies.
    const [stale] = await sm.apply(entries([split('m', 0)]));
    expect(stale).toMatchObject({ op: 'split', ok: false });
    const [fresh] = await sm.apply(entries([split('m', 3)]));
    expect(fresh).toMatchObject({ op: 'split', ok: true, left: { generation: 4 }, right: { generation: 4 } });
    // A change the configuration rules refuse (leaving a joint configuration that is not joint) moves nothing.
    await sm.apply([conf({ changes: [], transition: 'auto' })], simpleConfState([2, 3, 4], [1]));
    expect(sm.descriptor()).toMatchObject({ generation: 4 });
    const after = sm.descriptor();
    // Entries replayed below the applied index (a restart) move nothing twice, and the generation was persisted.
    await engines.close(kv);
    ({ kv } = await openEngine(opened.dir));
    sm = new KvStateMachine(kv.engine, 2);
    expect(sm.descriptor()).toEqual(after);
    const replayed = await sm.apply([{ kind: 'conf-change', index: 1, term: 1, data: encodeConfChange({ changes: [{ op: 'add-learner', nodeId: 4 }], transition: 'auto' }) }], simpleConfState([1, 2, 3]));
    expect(replayed).toEqual([undefined]);
    expect(sm.descriptor()).toEqual(after);
  });

  it('exports a snapshot whose header names the applied index its files hold, even while an apply is in flight', async () => {
    nextIndex = 1;
    const { kv, dir } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    await sm.apply(entries([put('a', '1')]));
    // The export starts while the next batch is being written (the replica applies durable
    // entries while it appends the log, and may send a snapshot meanwhile).
    const applying = sm.apply(entries([put('b', '2'), put('c', '3')]));
    const exported = await sm.exportSnapshot(path.join(dir, 'export'));
    await applying;
    const target = await openEngine();
    const receiver = new KvStateMachine(target.kv.engine, 2);
    await receiver.ingestSnapshotFiles(exported.files);
    expect(receiver.appliedIndex(), `exported header says ${exported.appliedIndex}`).toBe(exported.appliedIndex);
    expect(receiver.descriptor()?.generation).toBe(exported.descriptor?.generation);
  });

  it('exports snapshot files as unsynced scratch (read once by the stream): no fsync competes with the Raft log', async () => {
    nextIndex = 1;
    const { kv, dir } = await openEngine();
    const exports: { sync: boolean | undefined }[] = [];
    const observed = Object.create(kv.engine) as StorageEngine;
    observed.exportSpan = (start, end, target, options) => {
      exports.push({ sync: options?.sync });
      return kv.engine.exportSpan(start, end, target, options);
    };
    const sm = new KvStateMachine(observed, 2);
    await sm.bootstrap(whole);
    await sm.apply(entries([put('a', '1'), put('b', '2')]));
    const exported = await sm.exportSnapshot(path.join(dir, 'export'));
    expect(exports, 'the local part and the user span').toEqual([{ sync: false }, { sync: false }]);
    const target = await openEngine();
    const receiver = new KvStateMachine(target.kv.engine, 2);
    await receiver.ingestSnapshotFiles(exported.files);
    expect(receiver.appliedIndex()).toBe(exported.appliedIndex);
    expect(userEntries(target.kv).map((entry) => entry.key)).toEqual(['a', 'b']);
  });

  it('answers range-mismatch for a write ordered after the split, and writes nothing', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    const results = await sm.apply(entries([put('a', '1'), { op: 'batch', commands: [put('b', '2')] }, split('m'), { op: 'batch', commands: [put('c', '3'), put('z', 'lost')] }]));
    expect(results[2]).toMatchObject({ op: 'split', ok: true });
    expect(results[3]).toMatchObject({ op: 'batch', results: [{ op: 'put' }, { op: 'range-mismatch' }] });
    expect(userEntries(kv).map((entry) => entry.key)).toEqual(['a', 'b', 'c']);
    expect(sm.appliedIndex()).toBe(4);
  });

  it('makes the batch holding a split durable before the split listener creates the right range', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    // Observe the sync flag of each batch the state machine hands the engine (the engine is a
    // dependency here; what is under test is the order of the state machine's own steps).
    const syncs: boolean[] = [];
    const observed = Object.create(kv.engine) as StorageEngine;
    observed.write = (batch, options) => {
      syncs.push(options?.sync === true);
      return kv.engine.write(batch, options);
    };
    const sm = new KvStateMachine(observed, 2);
    await sm.bootstrap(whole);
    const syncedBeforeListener: boolean[] = [];
    sm.onSplit(() => {
      syncedBeforeListener.push(syncs.at(-1) === true);
      return Promise.resolve();
    });
    syncs.length = 0;
    await sm.apply(entries([put('a', '1')]));
    expect(syncs).toEqual([false]);
    await sm.apply(entries([put('b', '2'), split('m')]));
    expect(syncs).toEqual([false, true]);
    expect(syncedBeforeListener).toEqual([true]);
  });

  it('refuses to apply a write on a user range that has no descriptor, and does not advance the applied index', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 5);
    await sm.apply(entries([{ op: 'members', members: new Map() }]));
    expect(sm.appliedIndex()).toBe(1);
    await expect(sm.apply(entries([put('a', '1')]))).rejects.toMatchObject({ code: 'PH_CORRUPTION', message: expect.stringContaining('range 5') as unknown });
    await expect(sm.apply(entries([{ op: 'batch', commands: [put('b', '2')] }]))).rejects.toMatchObject({ code: 'PH_CORRUPTION' });
    expect(sm.appliedIndex()).toBe(1);
    expect(kv.engine.get(rangeLocalKey(5, 'applied'))?.equals(encodeU64(1))).toBe(true);
    expect(userEntries(kv)).toEqual([]);
  });

  it('refuses a split of an older generation or at a key outside the span, with no effect', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    await sm.apply(entries([split('m')]));
    const results = await sm.apply(entries([split('f', 0), split('q', 1), split('', 1)]));
    expect(results.map((r) => r?.op === 'split' && r.ok)).toEqual([false, false, false]);
    expect(sm.descriptor()).toMatchObject({ generation: 1, endKey: Buffer.from('m') });
  });

  it('refuses a split whose new range id is another range\'s (a reused id), leaving every key owned', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    await sm.apply(entries([put('h', 'acknowledged'), split('m')]));
    // Range 9 is [m, end); a second split handing out id 9 again must not shrink range 2.
    const [refused] = await sm.apply(entries([split('g', 1)]));
    expect(refused).toMatchObject({ op: 'split', ok: false });
    expect(sm.descriptor()).toMatchObject({ generation: 1, endKey: Buffer.from('m') });
    expect(new KvStateMachine(kv.engine, 9).descriptor()?.startKey.toString()).toBe('m');
    expect(sm.get(Buffer.from('h'))?.toString()).toBe('acknowledged');
    const [later] = await sm.apply(entries([put('h', 'later')]));
    expect(later).toMatchObject({ op: 'put' });
  });

  it('allocates range ids past the ids of its block in replicated state (a node that lost its counter)', async () => {
    const block = 3 * 2 ** 20;
    const lost = (await openEngine()).kv;
    // The same node id on a new volume: its counter starts over, the replicated ids do not.
    expect(await lost.allocateRangeId(3, [2, block + 5, 4 * 2 ** 20 + 9, block - 1])).toBe(block + 6);
    expect(await lost.allocateRangeId(3)).toBe(block + 7);
    expect(await lost.allocateRangeId(3, [block + 2])).toBe(block + 8);
  });

  it('replays a split idempotently after a crash: the right range that moved on is left alone', async () => {
    nextIndex = 1;
    const { kv, dir } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    const splitEntries = entries([put('a', '1'), put('x', 'old'), split('m')]);
    await sm.apply(splitEntries);
    const right = new KvStateMachine(kv.engine, 9);
    await right.apply([{ kind: 'normal', index: 2, term: 1, data: encodeCommand(put('x', 'new')) }]);
    // The left range's state goes back to just before the split while the right range's state
    // is kept: the replayed split must not reset the right range.
    await kv.engine.put(rangeLocalKey(2, 'applied'), encodeU64(2));
    await kv.engine.put(rangeLocalKey(2, 'desc'), Buffer.from(JSON.stringify({ rangeId: 2, start: '', end: '', generation: 0, replicas })));
    await kv.flush();
    await engines.close(kv);
    const reopened = (await openEngine(dir)).kv;
    const again = new KvStateMachine(reopened.engine, 2);
    expect(again.appliedIndex()).toBe(2);
    const replayed = await again.apply(splitEntries);
    expect(replayed[0]).toBeUndefined();
    expect(replayed[2]).toMatchObject({ op: 'split', ok: true });
    expect(again.descriptor()?.endKey.toString()).toBe('m');
    expect(reopened.rangeIds()).toEqual([2, 9]);
    // The recorded descriptors, read without building a state machine per range.
    expect(reopened.rangeDescriptors()).toEqual([again.descriptor(), new KvStateMachine(reopened.engine, 9).descriptor()]);
    expect(reopened.rangeDescriptors().map((d) => `${d.rangeId}:${d.startKey.toString()}-${d.endKey.toString()}`)).toEqual(['2:-m', '9:m-']);
    const rightAgain = new KvStateMachine(reopened.engine, 9);
    expect(rightAgain.appliedIndex()).toBe(2);
    expect(rightAgain.get(Buffer.from('x'))?.toString()).toBe('new');
  });

  it('yields to the event loop while measuring its size by bytes walked, not only by keys (large values)', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    const value = Buffer.alloc(64 * 1024, 7);
    for (let b = 0; b < 8; b++) {
      const batch = new WriteBatch();
      for (let i = 0; i < 16; i++) batch.put(userVersionKey(Buffer.from(`k${String(b * 16 + i).padStart(4, '0')}`), 1n), encodeVersionValue(value));
      await kv.engine.write(batch, { sync: false });
    }
    await kv.flush();
    // Count the event-loop turns other work gets while the 8 MiB (128 keys) are walked.
    let turns = 0;
    let walking = true;
    const other = (async () => {
      while (walking) {
        await new Promise((resolve) => setImmediate(resolve));
        turns++;
      }
    })();
    const { bytes, middle } = await sm.sizeAndMiddle();
    walking = false;
    await other;
    expect(bytes).toBeGreaterThan(8 * 64 * 1024 * 16 - 1);
    expect(middle?.toString()).toMatch(/^k00[56]/);
    expect(turns).toBeGreaterThanOrEqual(7);
  });

  it('bounds its size from above without a walk: the last measured size plus the bytes written since', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    await sm.apply(entries([put('a', 'x'.repeat(100))]));
    expect(sm.sizeUpperBound()).toBeUndefined();
    const { bytes } = await sm.sizeAndMiddle();
    sm.bytesSinceSizeCheck = 0;
    expect(sm.sizeUpperBound()).toBe(bytes);
    await sm.apply(entries([put('b', 'y'.repeat(50))]));
    expect(sm.sizeUpperBound()).toBe(bytes + 51);
    await sm.apply(entries([split('b')]));
    expect(sm.sizeUpperBound()).toBeUndefined();
  });

  it('estimates an unmeasured range from the engine\'s table indexes (after a split), so placement never sees 0 bytes for data', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    const value = 'v'.repeat(4096);
    const puts: Command[] = [];
    for (let i = 0; i < 256; i++) puts.push(put(`k${String(i).padStart(4, '0')}`, value));
    await sm.apply(entries(puts));
    await kv.flush();
    const { bytes } = await sm.sizeAndMiddle();
    await sm.apply(entries([split('k0128')]));
    expect(sm.sizeUpperBound()).toBeUndefined();
    // The left half holds half the bytes; the estimate reads block offsets (4 KiB blocks), so it is close.
    const estimate = sm.sizeEstimate();
    expect(estimate).toBeGreaterThan(bytes * 0.4);
    expect(estimate).toBeLessThan(bytes * 0.6);
    // A measured size wins over the estimate.
    const measured = await sm.sizeAndMiddle();
    sm.bytesSinceSizeCheck = 0;
    expect(sm.sizeEstimate()).toBe(measured.bytes);
  });

  it('keeps the cluster records and descriptor copies in the meta range only', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const meta = new KvStateMachine(kv.engine, metaRangeId);
    await meta.bootstrap({ ...whole, rangeId: metaRangeId }, [whole]);
    const user = new KvStateMachine(kv.engine, 2);
    await user.bootstrap(whole);
    const member: Command = { op: 'members', members: new Map([[4, { raft: 'h:1', kv: 'h:2' }]]) };
    await meta.apply(entries([member, { op: 'member-state', nodeId: 5, state: 'removed' }]));
    await user.apply(entries([member]));
    expect(meta.memberAddresses().get(4)?.raft).toBe('h:1');
    expect(meta.memberLifecycles().removed.has(5)).toBe(true);
    expect(user.memberAddresses().size).toBe(0);
    const right: RangeDescriptor = { ...whole, rangeId: 9, startKey: Buffer.from('m'), generation: 1 };
    await meta.apply(entries([{ op: 'meta-descriptors', descriptors: [right, { ...whole, endKey: Buffer.from('m'), generation: 1 }] }]));
    await meta.apply(entries([{ op: 'meta-descriptors', descriptors: [whole] }]));
    expect(meta.rangeDescriptors().get(2)?.generation).toBe(1);
    expect(lookupDescriptor(meta.rangeDescriptors().values(), Buffer.from('q'))?.rangeId).toBe(9);
    // A state machine opened afresh on the engine (a restart) reads the copies back.
    const reloaded = new KvStateMachine(kv.engine, metaRangeId);
    const byRangeId = (descriptors: ReadonlyMap<number, RangeDescriptor>) => [...descriptors].sort(([a], [b]) => a - b);
    expect(byRangeId(reloaded.rangeDescriptors()).map(([rangeId]) => rangeId)).toEqual([metaRangeId, 2, 9]);
    expect(byRangeId(reloaded.rangeDescriptors())).toEqual(byRangeId(meta.rangeDescriptors()));
    // A put to the meta range has no span to land in.
    const [result] = await meta.apply(entries([put('a', '1')]));
    expect(result?.op).toBe('range-mismatch');
  });

  it('refuses a data directory of the single-range layout', async () => {
    const dir = engines.tempDir();
    const engine = await StorageEngine.open(dir);
    await engine.put(Buffer.from('\x01\x00applied', 'latin1'), Buffer.alloc(8), { sync: true });
    await engine.close();
    await expect(KvEngine.open(dir)).rejects.toThrow(/single-range layout/);
  });

  it('refuses a data directory of key layout 2 (unversioned values) with a clear error', async () => {
    const dir = engines.tempDir();
    const engine = await StorageEngine.open(dir);
    await engine.put(Buffer.from('\x00layout-version', 'latin1'), Buffer.from('2'), { sync: true });
    await engine.close();
    await expect(KvEngine.open(dir)).rejects.toThrow(/layout version 2 .*MVCC versions/);
  });
});

describe('MVCC versions', () => {
  const at = (key: string, ts: bigint, value: string): Command => ({ op: 'put', key: Buffer.from(key), value: Buffer.from(value), ts });
  const del = (key: string, ts: bigint): Command => ({ op: 'delete', key: Buffer.from(key), ts });

  it('keeps every version; reads see the newest, or the newest at or below a timestamp; deletes write tombstones', async () => {
    nextIndex = 1;
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    await sm.apply(entries([at('a', 10n, 'a1'), at('b', 11n, 'b1'), at('a', 20n, 'a2'), del('b', 21n), at('c', 22n, 'c1')]));
    expect(userEntries(kv)).toEqual([
      { key: 'a', ts: 20n },
      { key: 'a', ts: 10n },
      { key: 'b', ts: 21n },
      { key: 'b', ts: 11n },
      { key: 'c', ts: 22n },
    ]);
    expect(sm.get(Buffer.from('a'))?.toString()).toBe('a2');
    expect(sm.get(Buffer.from('a'), 19n)?.toString()).toBe('a1');
    expect(sm.get(Buffer.from('a'), 9n)).toBeUndefined();
    expect(sm.get(Buffer.from('b'))).toBeUndefined();
    expect(sm.get(Buffer.from('b'), 20n)?.toString()).toBe('b1');
    const rowsAt = (ts?: bigint): string[] => sm.scan(Buffer.alloc(0), Buffer.alloc(0), 100, 1 << 20, ts).rows.map((row) => `${row.key.toString()}=${row.value.toString()}`);
    expect(rowsAt()).toEqual(['a=a2', 'c=c1']);
    expect(rowsAt(20n)).toEqual(['a=a2', 'b=b1']);
    expect(rowsAt(11n)).toEqual(['a=a1', 'b=b1']);
    expect(rowsAt(5n)).toEqual([]);
    // Limits count live rows only, and `more` says a live row follows.
    expect(sm.scan(Buffer.alloc(0), Buffer.alloc(0), 1, 1 << 20).rows.map((row) => row.key.toString())).toEqual(['a']);
    expect(sm.scan(Buffer.alloc(0), Buffer.alloc(0), 1, 1 << 20).more).toBe(true);
    expect(sm.scan(Buffer.from('b'), Buffer.alloc(0), 1, 1 << 20)).toMatchObject({ more: false });
    // A delete of an absent key writes nothing; CAS sees the newest version.
    const results = await sm.apply(entries([del('b', 30n), { op: 'cas', key: Buffer.from('b'), expected: null, value: Buffer.from('b2'), ts: 31n }, { op: 'cas', key: Buffer.from('a'), expected: Buffer.from('a1'), value: Buffer.from('x'), ts: 32n }]));
    expect(results).toMatchObject([{ op: 'delete', existed: false }, { op: 'cas', ok: true }, { op: 'cas', ok: false }]);
    expect(userEntries(kv).filter((entry) => entry.key === 'b').map((entry) => entry.ts)).toEqual([31n, 21n, 11n]);
  });

  it('writes versions above the range closed timestamp, whatever the proposer stamped, and keeps it across restarts and splits', async () => {
    nextIndex = 1;
    const { kv, dir } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap(whole);
    // A leader whose clock is behind the previous one's: its writes still land above.
    await sm.apply(entries([at('k', 100n, 'new leader'), at('k', 50n, 'slow clock'), { op: 'batch', commands: [at('k', 0n, 'unstamped'), del('k', 0n)] }]));
    expect(userEntries(kv).map((entry) => entry.ts)).toEqual([103n, 102n, 101n, 100n]);
    expect(sm.closedTimestamp()).toBe(103n);
    // Closing a timestamp makes the next write land above it; a lower close changes nothing.
    await sm.apply(entries([{ op: 'close-ts', ts: 500n }, { op: 'close-ts', ts: 200n }, at('m', 10n, 'after close'), at('z', 10n, 'right side')]));
    expect(sm.closedTimestamp()).toBe(502n);
    expect(userEntries(kv).find((entry) => entry.key === 'm')?.ts).toBe(501n);
    await sm.apply(entries([split('n')]));
    const right = new KvStateMachine(kv.engine, 9);
    expect(right.closedTimestamp()).toBe(502n);
    expect(right.get(Buffer.from('z'), 502n)?.toString()).toBe('right side');
    await engines.close(kv);
    const reopened = await openEngine(dir);
    expect(new KvStateMachine(reopened.kv.engine, 2).closedTimestamp()).toBe(502n);
    expect(new KvStateMachine(reopened.kv.engine, 9).closedTimestamp()).toBe(502n);
  });

  it('records protected timestamps in the meta range only, durably', async () => {
    nextIndex = 1;
    const { kv, dir } = await openEngine();
    const meta = new KvStateMachine(kv.engine, metaRangeId);
    await meta.bootstrap({ ...whole, rangeId: metaRangeId }, [whole]);
    const user = new KvStateMachine(kv.engine, 2);
    await user.bootstrap(whole);
    const protection = { id: 'backup/b1', ts: 12345n, reason: 'backup b1 running', expiresAtMs: 99 };
    await meta.apply(entries([{ op: 'protect-ts', protection }, { op: 'protect-ts', protection: { ...protection, id: 'chain/b0' } }, { op: 'release-ts', id: 'chain/b0' }]));
    await user.apply(entries([{ op: 'protect-ts', protection }]));
    expect(meta.protectedTimestamps()).toEqual([protection]);
    expect(user.protectedTimestamps()).toEqual([]);
    await engines.close(kv);
    const reopened = await openEngine(dir);
    expect(new KvStateMachine(reopened.kv.engine, metaRangeId).protectedTimestamps()).toEqual([protection]);
  });
});

describe('replica tombstones', () => {
  it('keep the removal index and generation across a restart; one written without a generation (an older build) reads as unknown', async () => {
    const { kv, dir } = await openEngine();
    await kv.writeTombstone(7, { removedAt: 42, generation: 5 });
    await kv.engine.put(tombstoneKey(9), encodeU64(17), { sync: true });
    await engines.close(kv);
    const { kv: again } = await openEngine(dir);
    expect(again.tombstones()).toEqual(
      new Map([
        [7, { removedAt: 42, generation: 5 }],
        [9, { removedAt: 17 }],
      ]),
    );
    await again.deleteTombstone(7);
    expect([...again.tombstones().keys()]).toEqual([9]);
  });
});
