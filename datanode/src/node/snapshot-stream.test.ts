import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotStreamError, decodeSnapshotStream, encodeSnapshotStream } from './snapshot-stream.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-snapshot-stream-'));
  dirs.push(dir);
  return dir;
}

/** Re-cuts a stream into pieces of `pieceBytes` (as the paced sender and the transport deliver them). */
async function* recut(source: AsyncIterable<Uint8Array>, pieceBytes: number): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) for (let at = 0; at < chunk.byteLength; at += pieceBytes) yield chunk.slice(at, Math.min(chunk.byteLength, at + pieceBytes));
}

describe('snapshot streams', () => {
  it('carry every file byte for byte, whatever size the pieces arrive in', async () => {
    const source = tempDir();
    const sizes = [0, 1, 64 * 1024 - 1, 3 * 1024 * 1024 + 17];
    const files = sizes.map((size, i) => {
      const file = path.join(source, `user-${i}.sst`);
      const bytes = Buffer.alloc(size);
      for (let at = 0; at < size; at++) bytes[at] = (at * 31 + i) & 0xff;
      fs.writeFileSync(file, bytes);
      return file;
    });
    for (const pieceBytes of [1000, 64 * 1024]) {
      const target = path.join(tempDir(), 'in');
      const { header, files: written } = await decodeSnapshotStream(recut(encodeSnapshotStream(42, files), pieceBytes), target);
      expect(header.appliedIndex).toBe(42);
      expect(written.map((file) => path.basename(file))).toEqual(files.map((file) => path.basename(file)));
      for (const [i, file] of written.entries()) expect(fs.readFileSync(file).equals(fs.readFileSync(files[i] ?? '')), `${file} (pieces of ${pieceBytes})`).toBe(true);
    }
  });

  it('refuses a stream that ends early', async () => {
    const source = tempDir();
    const file = path.join(source, 'user-0.sst');
    fs.writeFileSync(file, Buffer.alloc(200_000, 7));
    async function* truncated(): AsyncGenerator<Uint8Array> {
      let sent = 0;
      for await (const chunk of recut(encodeSnapshotStream(1, [file]), 4096)) {
        if (sent + chunk.byteLength > 150_000) return;
        sent += chunk.byteLength;
        yield chunk;
      }
    }
    await expect(decodeSnapshotStream(truncated(), path.join(tempDir(), 'in'))).rejects.toBeInstanceOf(SnapshotStreamError);
  });
});
