import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageEngine, WriteBatch } from './engine.ts';
import { ReadOnlyError, StorageIOError } from './errors.ts';
import { FaultInjectingFs } from './fs.ts';
import { key, tempDir, val } from './testing/tmp.ts';

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});
function dir(): string {
  const t = tempDir('faults');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('write and fsync failures', () => {
  it('a failed WAL fsync fails the batch, makes the engine read-only, and loses nothing acknowledged', async () => {
    const d = dir();
    const faulty = new FaultInjectingFs();
    const e = await StorageEngine.open(d, {}, { fs: faulty });
    await e.put(key(1), val(1), { sync: true });
    faulty.failWhen = (op, target) => (op === 'fsync' && target.endsWith('.log') ? 'EIO' : undefined);
    const failed = e.put(key(2), val(2), { sync: true });
    await expect(failed).rejects.toBeInstanceOf(StorageIOError);
    // The unacknowledged write is not visible; the acknowledged one is.
    expect(e.get(key(2))).toBeUndefined();
    expect(e.get(key(1))?.toString()).toBe(val(1).toString());
    await expect(e.put(key(3), val(3))).rejects.toBeInstanceOf(ReadOnlyError);
    const stats = e.stats();
    expect(stats.state).toBe('read-only');
    expect(stats.readOnlyReason).toMatch(/EIO/);
    await e.close();
    faulty.failWhen = () => undefined;
    const reopened = await StorageEngine.open(d);
    expect(reopened.get(key(1))?.toString()).toBe(val(1).toString());
    await reopened.close();
  });

  it('a failed WAL write fails the batch and every later one', async () => {
    const faulty = new FaultInjectingFs();
    const e = await StorageEngine.open(dir(), {}, { fs: faulty });
    faulty.failWhen = (op, target) => (op === 'write' && target.endsWith('.log') ? 'ENOSPC' : undefined);
    await expect(e.put(key(1), val(1))).rejects.toBeInstanceOf(StorageIOError);
    expect(e.get(key(1))).toBeUndefined();
    await expect(e.put(key(2), val(2))).rejects.toBeInstanceOf(ReadOnlyError);
    expect(e.stats().readOnlyReason).toMatch(/ENOSPC/);
    await e.close();
  });

  it('a failed flush (table write) makes the engine read-only and keeps the WAL for recovery', async () => {
    const d = dir();
    const faulty = new FaultInjectingFs();
    const e = await StorageEngine.open(d, { memtableBytesMax: 64 * 1024 }, { fs: faulty });
    const acked: number[] = [];
    faulty.failWhen = (op, target) => (op === 'write' && target.endsWith('.sst') ? 'EIO' : undefined);
    let failure: unknown;
    for (let i = 0; i < 3000 && failure === undefined; i++) {
      try {
        await e.put(key(i), val(i), { sync: true });
        acked.push(i);
      } catch (err) {
        failure = err;
      }
    }
    expect(failure).toBeInstanceOf(ReadOnlyError);
    expect(e.stats().readOnlyReason).toMatch(/flush failed/);
    await e.close();
    faulty.failWhen = () => undefined;
    const reopened = await StorageEngine.open(d, { memtableBytesMax: 64 * 1024 });
    for (const i of acked) expect(reopened.get(key(i))?.toString()).toBe(val(i).toString());
    await reopened.close();
  });
});

/** Mounts a tiny tmpfs (root can; CI runs as root). Returns undefined where mounting is not allowed. */
function mountTinyTmpfs(bytes: number): { dir: string; unmount: () => void } | undefined {
  const t = tempDir('full');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', t.dir], { stdio: 'pipe' });
  } catch {
    t.cleanup();
    return undefined;
  }
  return {
    dir: t.dir,
    unmount: () => {
      execFileSync('umount', [t.dir]);
      t.cleanup();
    },
  };
}

describe('a full disk', () => {
  it('fails writes with a clear error once the disk is full, never acknowledging a write it did not persist', async () => {
    const mount = mountTinyTmpfs(2 * 1024 * 1024);
    const faulty = new FaultInjectingFs();
    let d: string;
    if (mount === undefined) {
      // Without permission to mount, simulate ENOSPC once 2 MiB of WAL has been written.
      d = dir();
      let written = 0;
      faulty.failWhen = (op, target) => {
        if (op !== 'write' || !target.endsWith('.log')) return undefined;
        written += 64 * 1024;
        return written > 2 * 1024 * 1024 ? 'ENOSPC' : undefined;
      };
    } else {
      cleanups.push(mount.unmount);
      d = path.join(mount.dir, 'data');
    }
    const e = await StorageEngine.open(d, { memtableBytesMax: 256 * 1024, targetFileBytes: 64 * 1024 }, { fs: faulty });
    const acked: number[] = [];
    let failure: unknown;
    for (let batchNo = 0; batchNo < 400 && failure === undefined; batchNo++) {
      const b = new WriteBatch();
      for (let j = 0; j < 50; j++) b.put(key(batchNo * 50 + j), Buffer.alloc(200, batchNo % 251));
      try {
        await e.write(b, { sync: true });
        acked.push(batchNo);
      } catch (err) {
        failure = err;
      }
    }
    expect(failure, 'the disk filled up').toBeDefined();
    expect((failure as { code?: string }).code).toMatch(/PH_IO|PH_READ_ONLY/);
    expect(String((failure as Error).message)).toMatch(/ENOSPC|no space/i);
    expect(e.stats().state).toBe('read-only');
    for (const b of acked) expect(e.get(key(b * 50 + 49))?.[0]).toBe(b % 251);
    await e.close();
    // Make room and reopen: every acknowledged batch is there, whole.
    if (mount !== undefined) execFileSync('mount', ['-o', 'remount,size=16m', mount.dir]);
    faulty.failWhen = () => undefined;
    const reopened = await StorageEngine.open(d, { memtableBytesMax: 256 * 1024 }, { fs: faulty });
    for (const b of acked) for (let j = 0; j < 50; j++) expect(reopened.get(key(b * 50 + j))?.[0]).toBe(b % 251);
    await reopened.close();
    expect(fs.existsSync(d)).toBe(true);
  });
});
