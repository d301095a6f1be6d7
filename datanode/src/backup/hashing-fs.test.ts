/**
 * HashingFs: the SHA-256 of what was written through it, and (for the export thread) a flush to
 * disk every `syncEveryBytes` while a file is written, counted here through the real file system.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realFs, type StorageFs } from '../storage/fs.ts';
import { HashingFs } from './hashing-fs.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'phantomdb-hashing-fs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** realFs, counting fsyncSync calls. */
function counting(): { fs: StorageFs; syncs: () => number } {
  let syncs = 0;
  const fs: StorageFs = Object.create(realFs) as StorageFs;
  fs.fsyncSync = (fd: number): void => {
    syncs++;
    realFs.fsyncSync(fd);
  };
  return { fs, syncs: () => syncs };
}

function writeChunks(fs: StorageFs, file: string, chunks: number, chunkBytes: number): Buffer {
  const fd = fs.openSync(file, 'w');
  const all: Buffer[] = [];
  for (let i = 0; i < chunks; i++) {
    const chunk = Buffer.alloc(chunkBytes, i % 256);
    fs.writeAllSync(fd, chunk, 0, chunk.length, null);
    all.push(chunk);
  }
  fs.closeSync(fd);
  return Buffer.concat(all);
}

describe('HashingFs', () => {
  it('hashes what it writes and, asked to, flushes every syncEveryBytes', () => {
    const inner = counting();
    const hashing = new HashingFs(inner.fs, 1024 * 1024);
    const file = path.join(dir, 'synced');
    // 3.5 MiB in 64 KiB writes: three flushes along the way.
    const written = writeChunks(hashing, file, 56, 64 * 1024);
    expect(inner.syncs()).toBe(3);
    expect(hashing.digestOf(file)).toEqual({ sha256: createHash('sha256').update(written).digest('hex'), bytes: written.length });
    expect(readFileSync(file).equals(written)).toBe(true);
  });

  it('does not flush on its own by default', () => {
    const inner = counting();
    const hashing = new HashingFs(inner.fs);
    writeChunks(hashing, path.join(dir, 'unsynced'), 56, 64 * 1024);
    expect(inner.syncs()).toBe(0);
  });
});
