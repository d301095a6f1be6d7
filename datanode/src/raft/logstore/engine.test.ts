import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realFs } from '../../storage/fs.ts';
import { tempDir } from '../../storage/testing/tmp.ts';
import { MemoryRaftStorage } from '../storage.ts';
import { simpleConfState, type Entry } from '../types.ts';
import { RaftLogEngine, type RaftLogEngineOptions } from './engine.ts';
import { expectSameStorage, makeEntries, makeEntry } from './logstore.test-support.ts';

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function freshDir(prefix: string): string {
  const t = tempDir(`raftlog-${prefix}`);
  cleanups.push(t.cleanup);
  return path.join(t.dir, 'raftlog');
}

function segmentFiles(dir: string): string[] {
  return realFs.readdirSync(dir).filter((name) => name.endsWith('.seg')).sort();
}

async function reopen(engine: RaftLogEngine, options: RaftLogEngineOptions = {}): Promise<RaftLogEngine> {
  await engine.close();
  return RaftLogEngine.open(realFs, engine.dir, options);
}

describe('RaftLogEngine round trips', () => {
  it('keeps entries and hard states of many groups across reopen', async () => {
    const dir = freshDir('roundtrip');
    let engine = await RaftLogEngine.open(realFs, dir);
    const groups = 50;
    const models = new Map<number, MemoryRaftStorage>();
    for (let g = 1; g <= groups; g++) {
      await engine.createGroup(g, simpleConfState([1, 2, 3]));
      models.set(g, new MemoryRaftStorage(simpleConfState([1, 2, 3])));
    }
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        [...models].map(async ([g, model]) => {
          const entries = makeEntries(g, model.lastIndex() + 1, 1 + ((g + round) % 4), 2);
          const hardState = { term: 2, vote: 1, commit: model.lastIndex() };
          await engine.append(g, entries, hardState);
          model.append(entries);
          model.setHardState(hardState);
        }),
      );
    }
    engine = await reopen(engine);
    expect(engine.groupIds()).toEqual([...models.keys()]);
    for (const [g, model] of models) expectSameStorage(model, engine.storageFor(g), `group ${g}`);
    await engine.close();
  });

  it('truncates a conflicting suffix, also after reopen', async () => {
    const dir = freshDir('truncate');
    let engine = await RaftLogEngine.open(realFs, dir);
    const model = new MemoryRaftStorage(simpleConfState([1]));
    await engine.createGroup(7, simpleConfState([1]));
    const append = async (entries: Entry[]): Promise<void> => {
      await engine.append(7, entries);
      model.append(entries);
    };
    await append(makeEntries(7, 2, 10, 1));
    await append(makeEntries(7, 6, 3, 2)); // replaces 6..11 with 6..8
    expect(engine.storageFor(7).lastIndex()).toBe(8);
    expectSameStorage(model, engine.storageFor(7), 'after truncation');
    engine = await reopen(engine);
    expectSameStorage(model, engine.storageFor(7), 'after truncation and reopen');
    await append(makeEntries(7, 9, 2, 3));
    engine = await reopen(engine);
    expectSameStorage(model, engine.storageFor(7), 'after append past the truncation and reopen');
    await engine.close();
  });

  it('applies leader snapshots and local compaction, also after reopen', async () => {
    const dir = freshDir('snapshot');
    let engine = await RaftLogEngine.open(realFs, dir);
    const conf = simpleConfState([1, 2, 3]);
    const models = [new MemoryRaftStorage(conf), new MemoryRaftStorage(conf), new MemoryRaftStorage()];
    await engine.createGroup(1, conf);
    await engine.createGroup(2, conf);
    await engine.createGroup(3, simpleConfState([]));
    for (const g of [1, 2]) {
      const entries = makeEntries(g, 2, 20, 1);
      await engine.append(g, entries);
      models[g - 1]?.append(entries);
    }
    // Group 1: local compaction at 12 keeps 13..21.
    const meta = await engine.createSnapshot(1, 12, simpleConfState([1, 2, 3, 4]), 'ckpt-12');
    expect(meta).toEqual(models[0]?.createSnapshot(12, simpleConfState([1, 2, 3, 4]), 'ckpt-12'));
    // Group 2: a leader snapshot at 30 supersedes the whole log.
    const leaderSnapshot = { index: 30, term: 4, confState: conf, reference: 'leader-30' };
    await engine.applySnapshot(2, leaderSnapshot);
    models[1]?.applySnapshot(leaderSnapshot);
    // Group 3 (started empty): a snapshot, then entries after it.
    const joinSnapshot = { index: 5, term: 2, confState: conf, reference: 'join' };
    await engine.applySnapshot(3, joinSnapshot);
    models[2]?.applySnapshot(joinSnapshot);
    await engine.append(3, makeEntries(3, 6, 3, 2));
    models[2]?.append(makeEntries(3, 6, 3, 2));
    engine = await reopen(engine);
    for (const g of [1, 2, 3]) {
      const model = models[g - 1];
      if (model === undefined) throw new Error('model exists');
      expectSameStorage(model, engine.storageFor(g), `group ${g}`);
    }
    await engine.close();
  });

  it('counts a snapshot as committed: a crash after installing one restarts with commit at the snapshot', async () => {
    const dir = freshDir('snapshot-commit');
    let engine = await RaftLogEngine.open(realFs, dir);
    const conf = simpleConfState([1, 2, 3]);
    await engine.createGroup(4, conf);
    await engine.append(4, makeEntries(4, 2, 5, 1), { term: 1, vote: 1, commit: 3 });
    // The host does not persist a commit-only hard state change on its own; the snapshot alone
    // must carry the commit index (a restarted Raft refuses a commit below its snapshot).
    await engine.applySnapshot(4, { index: 40, term: 3, confState: conf, reference: 'leader-40' });
    expect(engine.storageFor(4).initialState().hardState).toEqual({ term: 1, vote: 1, commit: 40 });
    await engine.createSnapshot(4, 40, conf, 'local-40');
    engine = await reopen(engine);
    expect(engine.storageFor(4).initialState().hardState).toEqual({ term: 1, vote: 1, commit: 40 });
    // The model storage used by the simulation agrees.
    const model = new MemoryRaftStorage(conf);
    model.setHardState({ term: 1, vote: 1, commit: 1 });
    model.applySnapshot({ index: 40, term: 3, confState: conf, reference: 'leader-40' });
    expect(model.initialState().hardState.commit).toBe(40);
    await engine.close();
  });

  it('removes groups durably', async () => {
    const dir = freshDir('remove');
    let engine = await RaftLogEngine.open(realFs, dir);
    for (const g of [1, 2, 3]) {
      await engine.createGroup(g, simpleConfState([1]));
      await engine.append(g, makeEntries(g, 2, 5, 1));
    }
    await engine.removeGroup(2);
    expect(() => engine.storageFor(2)).toThrow(/does not exist/);
    engine = await reopen(engine);
    expect(engine.groupIds()).toEqual([1, 3]);
    expect(engine.stats.liveGroups).toBe(2);
    await expect(engine.append(2, makeEntries(2, 2, 1, 1))).rejects.toMatchObject({ code: 'PH_INVALID_ARGUMENT' });
    await engine.close();
  });

  it('reads entries back from segments when they are not cached', async () => {
    const dir = freshDir('cache');
    let engine = await RaftLogEngine.open(realFs, dir, { cacheBytesMax: 1000 });
    const model = new MemoryRaftStorage(simpleConfState([1]));
    await engine.createGroup(1, simpleConfState([1]));
    for (let i = 0; i < 20; i++) {
      const entries = makeEntries(1, model.lastIndex() + 1, 5, 1, 200);
      await engine.append(1, entries);
      model.append(entries);
    }
    expect(engine.stats.cachedBytes).toBeLessThanOrEqual(1000);
    expectSameStorage(model, engine.storageFor(1), 'mostly uncached');
    engine = await reopen(engine, { cacheBytesMax: 1000 });
    expect(engine.stats.cachedBytes).toBeLessThanOrEqual(1000);
    expectSameStorage(model, engine.storageFor(1), 'mostly uncached after reopen');
    await engine.close();
  });

  it('enforces groupsMax and recordBytesMax with typed rejections', async () => {
    const dir = freshDir('limits');
    const engine = await RaftLogEngine.open(realFs, dir, { groupsMax: 2, recordBytesMax: 4096 });
    await engine.createGroup(1, simpleConfState([1]));
    await engine.createGroup(2, simpleConfState([1]));
    await expect(engine.createGroup(3, simpleConfState([1]))).rejects.toMatchObject({ code: 'PH_INVALID_ARGUMENT' });
    await expect(engine.append(1, [makeEntry(1, 2, 1, 5000)])).rejects.toMatchObject({ code: 'PH_INVALID_ARGUMENT' });
    // Nothing was written for the refused append; the engine stays usable.
    expect(engine.storageFor(1).lastIndex()).toBe(1);
    await engine.append(1, [makeEntry(1, 2, 1, 100)]);
    expect(engine.storageFor(1).lastIndex()).toBe(2);
    await engine.close();
    await expect(RaftLogEngine.open(realFs, dir, { segmentBytesMax: 10 })).rejects.toMatchObject({ code: 'PH_INVALID_OPTIONS' });
  });
});

describe('RaftLogEngine group commit', () => {
  it('covers 100 concurrent appends from 100 groups with one or two fsyncs', async () => {
    const dir = freshDir('groupcommit');
    const engine = await RaftLogEngine.open(realFs, dir);
    await Promise.all(Array.from({ length: 100 }, (_, i) => engine.createGroup(i + 1, simpleConfState([1]))));
    const before = engine.stats.fsyncs;
    await Promise.all(Array.from({ length: 100 }, (_, i) => engine.append(i + 1, makeEntries(i + 1, 2, 1, 1, 256), { term: 1, vote: 1, commit: 1 })));
    const used = engine.stats.fsyncs - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThanOrEqual(2);
    expect(engine.stats.appends).toBe(200);
    await engine.close();
  });

  it('shares fsyncs between appends issued while one is running', async () => {
    const dir = freshDir('groupcommit2');
    const engine = await RaftLogEngine.open(realFs, dir);
    const groups = 32;
    await Promise.all(Array.from({ length: groups }, (_, i) => engine.createGroup(i + 1, simpleConfState([1]))));
    const before = engine.stats.fsyncs;
    const appendsPerGroup = 10;
    await Promise.all(
      Array.from({ length: groups }, async (_, i) => {
        for (let n = 0; n < appendsPerGroup; n++) await engine.append(i + 1, makeEntries(i + 1, 2 + n, 1, 1, 256));
      }),
    );
    const used = engine.stats.fsyncs - before;
    expect(used).toBeLessThanOrEqual(appendsPerGroup * 2 + 2);
    expect(engine.stats.fsyncTotalMs).toBeGreaterThan(0);
    await engine.close();
  });
});

describe('RaftLogEngine group commit after an fsync', () => {
  it('waits for the rest of the event-loop turn before the next fsync: writes arriving there share it', async () => {
    const dir = freshDir('groupcommit3');
    let onFsync: (() => void) | undefined;
    const engine = await RaftLogEngine.open(realFs, dir, { onFsync: () => onFsync?.() });
    for (const g of [1, 2, 3]) await engine.createGroup(g, simpleConfState([1]));
    const before = engine.stats.fsyncs;
    const appendsBefore = engine.stats.appends;
    const appends: Promise<void>[] = [];
    onFsync = () => {
      onFsync = undefined;
      // The first fsync just completed. One write comes at once (it keeps the loop going), one
      // later in the same turn (another socket's data in the same poll phase).
      appends.push(engine.append(2, makeEntries(2, 2, 1, 1, 64)));
      setImmediate(() => appends.push(engine.append(3, makeEntries(3, 2, 1, 1, 64))));
    };
    await engine.append(1, makeEntries(1, 2, 1, 1, 64));
    while (appends.length < 2) await new Promise((resolve) => setImmediate(resolve));
    await Promise.all(appends);
    // One fsync for the first write, one shared by the two that came after it (three without the wait).
    expect(engine.stats.fsyncs - before).toBe(2);
    expect(engine.stats.appends - appendsBefore).toBe(3);
    await engine.close();
  });
});

describe('RaftLogEngine onFsync', () => {
  it('reports every counted fsync with its duration', async () => {
    const dir = freshDir('onfsync');
    const reported: number[] = [];
    const engine = await RaftLogEngine.open(realFs, dir, { onFsync: (ms) => reported.push(ms) });
    await engine.createGroup(1, simpleConfState([1]));
    for (let n = 0; n < 3; n++) await engine.append(1, makeEntries(1, 2 + n, 1, 1, 64));
    expect(reported.length).toBeGreaterThanOrEqual(4);
    expect(reported.length).toBe(engine.stats.fsyncs);
    expect(reported.every((ms) => ms >= 0)).toBe(true);
    expect(reported.reduce((sum, ms) => sum + ms, 0)).toBeCloseTo(engine.stats.fsyncTotalMs, 6);
    await engine.close();
  });
});

describe('RaftLogEngine segments', () => {
  it('rotates segments and deletes old ones once nothing needs them, state intact after reopen', async () => {
    const dir = freshDir('rotate');
    const options = { segmentBytesMax: 16 * 1024 };
    let engine = await RaftLogEngine.open(realFs, dir, options);
    const conf = simpleConfState([1, 2, 3]);
    const models = new Map<number, MemoryRaftStorage>();
    for (let g = 1; g <= 8; g++) {
      await engine.createGroup(g, conf);
      models.set(g, new MemoryRaftStorage(conf));
    }
    // Group 8 only ever gets a hard state early on: a checkpoint must carry it forward.
    await engine.setHardState(8, { term: 5, vote: 2, commit: 1 });
    models.get(8)?.setHardState({ term: 5, vote: 2, commit: 1 });
    let maxSegments = 0;
    for (let round = 0; round < 60; round++) {
      for (let g = 1; g <= 7; g++) {
        const model = models.get(g);
        if (model === undefined) throw new Error('model exists');
        const entries = makeEntries(g, model.lastIndex() + 1, 3, 1, 200);
        await engine.append(g, entries, { term: 1, vote: 1, commit: model.lastIndex() });
        model.append(entries);
        model.setHardState({ term: 1, vote: 1, commit: model.lastIndex() - 3 });
        // Keep about 10 entries per group: compact behind.
        if (model.lastIndex() > 12 && round % 3 === 0) {
          const index = model.lastIndex() - 10;
          await engine.createSnapshot(g, index, conf, `snap-${index}`);
          model.createSnapshot(index, conf, `snap-${index}`);
        }
      }
      maxSegments = Math.max(maxSegments, engine.stats.segments);
    }
    expect(engine.stats.segmentsDeleted).toBeGreaterThan(5);
    expect(engine.stats.segments).toBeLessThan(8);
    expect(segmentFiles(dir).length).toBe(engine.stats.segments);
    expect(segmentFiles(dir)[0]).not.toBe('raftlog-000001.seg');
    engine = await reopen(engine, options);
    for (const [g, model] of models) expectSameStorage(model, engine.storageFor(g), `group ${g} after GC and reopen`);
    expect(engine.hardState(8)).toEqual({ term: 5, vote: 2, commit: 1 });
    await engine.close();
  });

  it('does not rotate on every write when the checkpoint alone exceeds segmentBytesMax', async () => {
    const dir = freshDir('bigcheckpoint');
    const options = { segmentBytesMax: 4096 };
    let engine = await RaftLogEngine.open(realFs, dir, options);
    const groups = 300;
    await Promise.all(Array.from({ length: groups }, (_, i) => engine.createGroup(i + 1, simpleConfState([1, 2, 3]))));
    engine = await reopen(engine, options); // the opening checkpoint is now ~25 KiB
    const before = engine.stats.segments + engine.stats.segmentsDeleted;
    for (let i = 0; i < 200; i++) await engine.append((i % groups) + 1, makeEntries((i % groups) + 1, 2, 1, 1, 50));
    const rotations = engine.stats.segments + engine.stats.segmentsDeleted - before;
    expect(rotations).toBeLessThanOrEqual(1);
    engine = await reopen(engine, options);
    expect(engine.groupIds().length).toBe(groups);
    await engine.close();
  });

  it('keeps a segment while a group still has live entries in it', async () => {
    const dir = freshDir('pin');
    const options = { segmentBytesMax: 8 * 1024 };
    let engine = await RaftLogEngine.open(realFs, dir, options);
    await engine.createGroup(1, simpleConfState([1]));
    await engine.createGroup(2, simpleConfState([1]));
    await engine.append(1, makeEntries(1, 2, 3, 1, 100)); // group 1 never compacts: pins its segment
    const pinned = segmentFiles(dir)[segmentFiles(dir).length - 1];
    let next = 2;
    for (let i = 0; i < 100; i++) {
      await engine.append(2, makeEntries(2, next, 2, 1, 300));
      next += 2;
      await engine.createSnapshot(2, next - 1, simpleConfState([1]), 'x');
    }
    expect(segmentFiles(dir)).toContain(pinned);
    expect(engine.stats.segments).toBeGreaterThan(5);
    // Compacting group 1 releases everything.
    await engine.createSnapshot(1, 4, simpleConfState([1]), 'y');
    await engine.append(2, makeEntries(2, next, 1, 1, 10));
    expect(segmentFiles(dir)).not.toContain(pinned);
    expect(engine.stats.segments).toBeLessThanOrEqual(2);
    engine = await reopen(engine, options);
    expect(engine.storageFor(1).firstIndex()).toBe(5);
    expect(engine.storageFor(2).lastIndex()).toBe(next);
    await engine.close();
  });
});
