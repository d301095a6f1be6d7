import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptionError } from '../../storage/errors.ts';
import { FaultInjectingFs, realFs } from '../../storage/fs.ts';
import { readRecordLog, recordHeaderBytes } from '../../storage/record-log.ts';
import { tempDir } from '../../storage/testing/tmp.ts';
import { MemoryRaftStorage } from '../storage.ts';
import { simpleConfState } from '../types.ts';
import { RaftLogEngine } from './engine.ts';
import { expectSameStorage, makeEntries } from './logstore.test-support.ts';

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function freshDir(prefix: string): string {
  const t = tempDir(`raftlog-${prefix}`);
  cleanups.push(t.cleanup);
  return path.join(t.dir, 'raftlog');
}

function segmentPaths(dir: string): string[] {
  return nodeFs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .map((name) => path.join(dir, name));
}

function lastOf<T>(items: readonly T[]): T {
  const item = items[items.length - 1];
  if (item === undefined) throw new Error('non-empty list expected');
  return item;
}

/** Record start offsets of a segment. */
function recordOffsets(file: string): number[] {
  return readRecordLog(realFs, file).payloadOffsets.map((offset) => offset - recordHeaderBytes);
}

/** Three groups with a few appends each; the last call is one small append to group 3. */
async function buildLog(dir: string): Promise<Map<number, MemoryRaftStorage>> {
  const engine = await RaftLogEngine.open(realFs, dir);
  const models = new Map<number, MemoryRaftStorage>();
  for (const g of [1, 2, 3]) {
    await engine.createGroup(g, simpleConfState([1, 2]));
    const model = new MemoryRaftStorage(simpleConfState([1, 2]));
    const entries = makeEntries(g, 2, 4, 1, 50);
    await engine.append(g, entries, { term: 1, vote: 2, commit: 3 });
    model.append(entries);
    model.setHardState({ term: 1, vote: 2, commit: 3 });
    models.set(g, model);
  }
  await engine.append(3, makeEntries(3, 6, 1, 2, 20), { term: 2, vote: 1, commit: 5 });
  await engine.close();
  return models;
}

describe('RaftLogEngine recovery', () => {
  it('truncates a torn last record at every byte offset and keeps everything before it', async () => {
    const source = freshDir('torn-src');
    const models = await buildLog(source);
    const lastSegment = lastOf(segmentPaths(source));
    const recordStart = lastOf(recordOffsets(lastSegment));
    const fileBytes = nodeFs.statSync(lastSegment).size;
    expect(fileBytes - recordStart).toBeGreaterThan(recordHeaderBytes);
    for (let cut = recordStart; cut < fileBytes; cut++) {
      const dir = freshDir(`torn-${cut}`);
      nodeFs.cpSync(source, dir, { recursive: true });
      const torn = path.join(dir, path.basename(lastSegment));
      nodeFs.truncateSync(torn, cut);
      const engine = await RaftLogEngine.open(realFs, dir);
      expect(nodeFs.statSync(torn).size, `cut at ${cut}`).toBe(recordStart);
      for (const [g, model] of models) expectSameStorage(model, engine.storageFor(g), `group ${g}, cut at ${cut}`);
      // The log keeps working after the truncation, and reopens again.
      await engine.append(3, makeEntries(3, 6, 1, 3, 20));
      await engine.close();
      const again = await RaftLogEngine.open(realFs, dir);
      expect(again.storageFor(3).term(6)).toBe(3);
      await again.close();
      nodeFs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a flipped byte mid-log with a CorruptionError naming file and offset', async () => {
    const dir = freshDir('flip');
    await buildLog(dir);
    const lastSegment = lastOf(segmentPaths(dir));
    const offsets = recordOffsets(lastSegment);
    const victim = offsets[offsets.length - 3];
    if (victim === undefined) throw new Error('enough records');
    const bytes = nodeFs.readFileSync(lastSegment);
    const at = victim + recordHeaderBytes + 5;
    bytes[at] = (bytes[at] ?? 0) ^ 0x40;
    nodeFs.writeFileSync(lastSegment, bytes);
    const error = await RaftLogEngine.open(realFs, dir).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error).toMatchObject({ file: lastSegment, offset: victim, code: 'PH_CORRUPTION' });
    // Refusing must not have truncated anything.
    expect(nodeFs.readFileSync(lastSegment).equals(bytes)).toBe(true);
  });

  it('refuses damage at the end of a segment that is not the last', async () => {
    const dir = freshDir('nonlast');
    await buildLog(dir); // entries live in this segment, so reopening keeps it
    const engine = await RaftLogEngine.open(realFs, dir);
    await engine.append(1, makeEntries(1, 6, 2, 1, 30));
    await engine.close();
    const segments = segmentPaths(dir);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    const first = segments[0];
    if (first === undefined) throw new Error('a first segment');
    const size = nodeFs.statSync(first).size;
    const lastRecord = lastOf(recordOffsets(first));
    nodeFs.truncateSync(first, size - 3);
    const error = await RaftLogEngine.open(realFs, dir).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error).toMatchObject({ file: first, offset: lastRecord });
  });

  it('refuses to open when the oldest segment still held live entries but is gone', async () => {
    const dir = freshDir('lostoldest');
    await buildLog(dir);
    const engine = await RaftLogEngine.open(realFs, dir); // the new segment's checkpoint names entries of the first
    await engine.append(1, makeEntries(1, 6, 1, 1, 30));
    await engine.close();
    const segments = segmentPaths(dir);
    nodeFs.unlinkSync(segments[0] ?? '');
    const error = await RaftLogEngine.open(realFs, dir).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(String((error as Error).message)).toMatch(/group 1 needs entry 2/);
  });

  it('refuses a missing segment in the middle', async () => {
    const dir = freshDir('gap');
    await buildLog(dir);
    for (let i = 0; i < 2; i++) {
      const engine = await RaftLogEngine.open(realFs, dir);
      await engine.append(1, makeEntries(1, 6 + i, 1, 1, 30));
      await engine.close();
    }
    const segments = segmentPaths(dir);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    nodeFs.unlinkSync(segments[1] ?? '');
    await expect(RaftLogEngine.open(realFs, dir)).rejects.toBeInstanceOf(CorruptionError);
  });
});

describe('RaftLogEngine I/O failures', () => {
  it('rejects appends whose fsync fails, then refuses everything with ReadOnlyError naming the cause', async () => {
    const dir = freshDir('fsyncfail');
    const fs = new FaultInjectingFs();
    const engine = await RaftLogEngine.open(fs, dir);
    await engine.createGroup(1, simpleConfState([1]));
    await engine.createGroup(2, simpleConfState([1]));
    fs.failWhen = (operation, target) => (operation === 'fsync' && target.endsWith('.seg') ? 'EIO' : undefined);
    const results = await Promise.allSettled([engine.append(1, makeEntries(1, 2, 1, 1)), engine.append(2, makeEntries(2, 2, 1, 1))]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'PH_IO', operation: 'fsync' });
    }
    fs.failWhen = () => undefined;
    const later = await engine.append(1, makeEntries(1, 3, 1, 1)).catch((err: unknown) => err);
    expect(later).toMatchObject({ code: 'PH_READ_ONLY' });
    expect(String((later as Error).message)).toMatch(/EIO/);
    await expect(engine.setHardState(2, { term: 2, vote: 0, commit: 1 })).rejects.toMatchObject({ code: 'PH_READ_ONLY' });
    await expect(engine.createGroup(3, simpleConfState([1]))).rejects.toMatchObject({ code: 'PH_READ_ONLY' });
    expect(engine.failed?.code).toBe('PH_IO');
    // Reads still work.
    expect(engine.storageFor(1).firstIndex()).toBe(2);
    await engine.close();
  });

  it('rejects an append whose write fails and never acknowledges later ones', async () => {
    const dir = freshDir('writefail');
    const fs = new FaultInjectingFs();
    const engine = await RaftLogEngine.open(fs, dir);
    await engine.createGroup(1, simpleConfState([1]));
    fs.failWhen = (operation) => (operation === 'write' ? 'ENOSPC' : undefined);
    await expect(engine.append(1, makeEntries(1, 2, 1, 1))).rejects.toMatchObject({ code: 'PH_IO', operation: 'write' });
    fs.failWhen = () => undefined;
    await expect(engine.append(1, makeEntries(1, 2, 1, 1))).rejects.toMatchObject({ code: 'PH_READ_ONLY' });
    await engine.close();
    const reopened = await RaftLogEngine.open(realFs, dir);
    expect(reopened.storageFor(1).lastIndex()).toBe(1);
    await reopened.close();
  });

  it('rejects appends waiting for an fsync that never runs after an earlier write failure', async () => {
    const dir = freshDir('stranded');
    const fs = new FaultInjectingFs();
    const engine = await RaftLogEngine.open(fs, dir);
    await engine.createGroup(1, simpleConfState([1]));
    await engine.createGroup(2, simpleConfState([1]));
    const first = engine.append(1, makeEntries(1, 2, 1, 1)); // written, waiting for its fsync
    fs.failWhen = (operation) => (operation === 'write' ? 'EIO' : undefined);
    const second = engine.append(2, makeEntries(2, 2, 1, 1));
    await expect(second).rejects.toMatchObject({ code: 'PH_IO' });
    await expect(first).rejects.toMatchObject({ code: 'PH_READ_ONLY' });
    await engine.close();
  });

  it('rejects the append that triggers a rotation whose fsync fails', async () => {
    const dir = freshDir('rotatefail');
    const fs = new FaultInjectingFs();
    const engine = await RaftLogEngine.open(fs, dir, { segmentBytesMax: 4096 });
    await engine.createGroup(1, simpleConfState([1]));
    let next = 2;
    while (engine.stats.bytes < 4096) {
      await engine.append(1, makeEntries(1, next, 1, 1, 500));
      next++;
    }
    let failures = 0;
    fs.failWhen = (operation) => (operation === 'fsync' ? (failures++, 'EIO') : undefined);
    await expect(engine.append(1, makeEntries(1, next, 1, 1, 500))).rejects.toMatchObject({ code: 'PH_IO' });
    expect(failures).toBe(1);
    await expect(engine.append(1, makeEntries(1, next, 1, 1, 500))).rejects.toMatchObject({ code: 'PH_READ_ONLY' });
    await engine.close();
  });
});
