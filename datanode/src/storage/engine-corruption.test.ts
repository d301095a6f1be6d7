import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageEngine, WriteBatch } from './engine.ts';
import { CorruptionError } from './errors.ts';
import { key, tempDir, val } from './testing/tmp.ts';
import { verifyDataDir } from './verify.ts';

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});
function dir(): string {
  const t = tempDir('corrupt');
  cleanups.push(t.cleanup);
  return t.dir;
}
const repoRoot = path.resolve(import.meta.dirname, '../../..');

function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] = (b[0] ?? 0) ^ 0x5a;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

async function buildTableDir(): Promise<string> {
  const d = dir();
  const e = await StorageEngine.open(d, { blockCacheBytes: 0 });
  const b = new WriteBatch();
  for (let i = 0; i < 5000; i++) b.put(key(i), val(i));
  await e.write(b);
  await e.flush();
  await e.close();
  return d;
}

const tables = (d: string): string[] => fs.readdirSync(d).filter((n) => n.endsWith('.sst')).map((n) => path.join(d, n));
const wals = (d: string): string[] => fs.readdirSync(d).filter((n) => n.endsWith('.log')).map((n) => path.join(d, n));

describe('corruption is detected, located and never returned as data', () => {
  it('a flipped byte in a data block fails reads of that block with the file and offset', async () => {
    const d = await buildTableDir();
    const [table] = tables(d);
    expect(table).toBeDefined();
    flipByte(table as string, 100); // inside the first data block
    const e = await StorageEngine.open(d, { blockCacheBytes: 0 });
    let error: unknown;
    try {
      e.get(key(0));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).file).toBe(table);
    expect((error as CorruptionError).offset).toBe(0);
    // Keys in other blocks still read correctly.
    expect(e.get(key(4999))?.toString()).toBe(val(4999).toString());
    // A scan over the damaged block fails rather than skipping it.
    expect(() => {
      const it = e.iterator();
      for (it.seekToFirst(); it.valid(); it.next());
    }).toThrow(CorruptionError);
    const problems = e.verify();
    expect(problems.length).toBe(1);
    expect(problems[0]?.file).toBe(table);
    await e.close();
  });

  it('corruption met by a compaction on the background thread stops compaction with the file and offset', async () => {
    const d = await buildTableDir();
    const [table] = tables(d);
    flipByte(table as string, 100);
    const e = await StorageEngine.open(d, { blockCacheBytes: 0 });
    await expect(e.compactAll()).rejects.toSatisfy((err: unknown) => err instanceof CorruptionError && err.file === table && err.offset === 0);
    expect(e.stats().state).toBe('read-only');
    expect(e.stats().readOnlyReason).toContain(table);
    // Nothing was lost or replaced: the intact blocks still read.
    expect(e.get(key(4999))?.toString()).toBe(val(4999).toString());
    await e.close();
  });

  it('verify (library and CLI) reports every damaged table with its offset', async () => {
    const d = await buildTableDir();
    const [table] = tables(d);
    const size = fs.statSync(table as string).size;
    flipByte(table as string, Math.floor(size / 2));
    const report = verifyDataDir(d);
    expect(report.problems.length).toBe(1);
    expect(report.problems[0]?.file).toBe(table);
    let status = 0;
    let output = '';
    try {
      execFileSync(process.execPath, [path.join(repoRoot, 'bin/phantomdb-node.mjs'), 'verify', '--data-dir', d], { stdio: 'pipe' });
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      status = e.status;
      output = e.stderr.toString();
    }
    expect(status).toBe(1);
    expect(output).toContain(table);
    expect(output).toMatch(/CORRUPT .* at offset \d+/);
  });

  it('verify on a healthy directory passes, through the CLI too', async () => {
    const d = await buildTableDir();
    expect(verifyDataDir(d).problems).toEqual([]);
    const out = execFileSync(process.execPath, [path.join(repoRoot, 'bin/phantomdb-node.mjs'), 'verify', '--data-dir', d]).toString();
    expect(out).toMatch(/^ok: 1 tables/m);
  });

  it('corruption in the middle of the WAL stops open with the file and offset', async () => {
    const d = dir();
    const e = await StorageEngine.open(d);
    for (let i = 0; i < 20; i++) await e.put(key(i), val(i), { sync: true });
    await e.close(); // records stay in the WAL (no flush)
    const wal = wals(d).find((w) => fs.statSync(w).size > 0) as string;
    flipByte(wal, 40); // inside the first record; later records are intact
    await expect(StorageEngine.open(d)).rejects.toSatisfy((err: unknown) => err instanceof CorruptionError && err.file === wal && err.offset === 0);
    expect(verifyDataDir(d).problems.map((p) => p.file)).toEqual([wal]);
  });

  it('a torn final WAL record is truncated and everything before it recovered', async () => {
    const d = dir();
    const e = await StorageEngine.open(d);
    for (let i = 0; i < 20; i++) await e.put(key(i), val(i), { sync: true });
    await e.close();
    const wal = wals(d).find((w) => fs.statSync(w).size > 0) as string;
    fs.truncateSync(wal, fs.statSync(wal).size - 5);
    const logs: string[] = [];
    const r = await StorageEngine.open(d, {}, { log: (m) => logs.push(m) });
    for (let i = 0; i < 19; i++) expect(r.get(key(i))?.toString()).toBe(val(i).toString());
    expect(r.get(key(19))).toBeUndefined();
    expect(logs.some((l) => /torn tail/.test(l))).toBe(true);
    await r.close();
  });

  it('a damaged manifest stops open with a clear error; a missing table too', async () => {
    const d = await buildTableDir();
    const current = fs.readFileSync(path.join(d, 'CURRENT'), 'utf8').trim();
    const manifest = path.join(d, current);
    const copy = fs.readFileSync(manifest);
    // Append a valid-looking second record by reopening, then damage the first record.
    const e = await StorageEngine.open(d);
    await e.put(key(1), val(1));
    await e.flush();
    await e.close();
    const manifest2 = path.join(d, fs.readFileSync(path.join(d, 'CURRENT'), 'utf8').trim());
    flipByte(manifest2, 20);
    await expect(StorageEngine.open(d)).rejects.toSatisfy((err: unknown) => err instanceof CorruptionError && err.file === manifest2);
    expect(copy.length).toBeGreaterThan(0);

    const d2 = await buildTableDir();
    const [table] = tables(d2);
    fs.unlinkSync(table as string);
    await expect(StorageEngine.open(d2)).rejects.toSatisfy((err: unknown) => err instanceof CorruptionError && /missing/.test(err.message));
  });
});
