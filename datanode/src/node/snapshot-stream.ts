/**
 * The byte stream a leader sends to bring a replica up to date: the replicated state exported
 * by the storage engine as SSTables, framed as
 *
 *   u32 headerBytes, header JSON {"version":1,"appliedIndex":n,"span":{"start":hex,"end":hex},
 *   "files":[{"name":s,"bytes":n}]} (span: the range's user keys the snapshot replaces),
 *   then each file's bytes in order.
 *
 * The receiver writes the files into a scratch directory and checks every length; the engine's
 * ingest then verifies every block checksum before anything becomes visible.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

const chunkBytes = 1024 * 1024;
const syncEveryBytes = 4 * 1024 * 1024;
/** Buffers per writev (well under IOV_MAX, 1024 on Linux), for streams of many small pieces. */
const writevBuffersMax = 256;
/** Largest snapshot file and header accepted from a peer. */
const fileBytesMax = 4 * 1024 * 1024 * 1024;
const headerBytesMax = 1024 * 1024;
const filesMax = 100_000;

const headerSchema = z.object({
  version: z.literal(1),
  appliedIndex: z.number().int().min(0),
  span: z.object({ start: z.string().regex(/^([0-9a-f]{2})*$/).max(16_384), end: z.string().regex(/^([0-9a-f]{2})*$/).max(16_384) }).optional(),
  files: z
    .array(z.object({ name: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/), bytes: z.number().int().min(0).max(fileBytesMax) }))
    .max(filesMax),
});

export type SnapshotHeader = z.infer<typeof headerSchema>;

export class SnapshotStreamError extends Error {
  override readonly name = 'SnapshotStreamError';
}

/** Yields the stream for `files` (exported SSTables) holding state at `appliedIndex`. */
export async function* encodeSnapshotStream(appliedIndex: number, files: readonly string[], span?: { readonly startKey: Buffer; readonly endKey: Buffer }): AsyncGenerator<Uint8Array> {
  const header: SnapshotHeader = {
    version: 1,
    appliedIndex,
    ...(span === undefined ? {} : { span: { start: span.startKey.toString('hex'), end: span.endKey.toString('hex') } }),
    files: files.map((file) => ({ name: path.basename(file), bytes: fs.statSync(file).size })),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(json.byteLength, 0);
  yield Buffer.concat([prefix, json]);
  for (const file of files) {
    const handle = await fs.promises.open(file, 'r');
    try {
      for (;;) {
        const buffer = Buffer.allocUnsafe(chunkBytes);
        const { bytesRead } = await handle.read(buffer, 0, chunkBytes, null);
        if (bytesRead === 0) break;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
}

/** Pulls exact byte counts out of a chunked stream. */
class ByteReader {
  private pending: Buffer = Buffer.alloc(0);
  private readonly iterator: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Calls `sink` with consecutive pieces totalling exactly `count` bytes. */
  async take(count: number, sink: (piece: Buffer) => void | Promise<void>): Promise<void> {
    let left = count;
    while (left > 0) {
      if (this.pending.byteLength === 0) {
        const next = await this.iterator.next();
        if (next.done === true) throw new SnapshotStreamError(`snapshot stream ended ${left} bytes early`);
        this.pending = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        continue;
      }
      const piece = this.pending.subarray(0, Math.min(left, this.pending.byteLength));
      this.pending = this.pending.subarray(piece.byteLength);
      left -= piece.byteLength;
      await sink(piece);
    }
  }

  async takeBuffer(count: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.take(count, (piece) => {
      parts.push(Buffer.from(piece));
    });
    return Buffer.concat(parts);
  }

  async expectEnd(): Promise<void> {
    if (this.pending.byteLength > 0) throw new SnapshotStreamError('snapshot stream has trailing bytes');
    const next = await this.iterator.next();
    if (next.done !== true && next.value.byteLength > 0) throw new SnapshotStreamError('snapshot stream has trailing bytes');
  }
}

/** Writes `buffers` (`bytes` in all) at the file's position with writev, going on after a short write. */
async function writeAll(handle: fs.promises.FileHandle, buffers: Buffer[], bytes: number): Promise<void> {
  let left = buffers;
  let leftBytes = bytes;
  while (leftBytes > 0) {
    const { bytesWritten } = await handle.writev(left);
    if (bytesWritten === leftBytes) return;
    if (bytesWritten <= 0) throw new SnapshotStreamError(`snapshot file write made no progress (${leftBytes} bytes left)`);
    leftBytes -= bytesWritten;
    // Drop what was written: whole buffers, then the written head of the next one.
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of left) {
      if (skip >= buffer.byteLength) {
        skip -= buffer.byteLength;
        continue;
      }
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
    left = rest;
  }
}

/** Receives a stream into `dir` (created); returns the header and the written file paths. */
export async function decodeSnapshotStream(source: AsyncIterable<Uint8Array>, dir: string): Promise<{ header: SnapshotHeader; files: string[] }> {
  const reader = new ByteReader(source);
  const headerLength = (await reader.takeBuffer(4)).readUInt32BE(0);
  if (headerLength > headerBytesMax) throw new SnapshotStreamError(`snapshot header of ${headerLength} bytes exceeds ${headerBytesMax}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse((await reader.takeBuffer(headerLength)).toString('utf8'));
  } catch {
    throw new SnapshotStreamError('snapshot header is not JSON');
  }
  const result = headerSchema.safeParse(parsed);
  if (!result.success) throw new SnapshotStreamError(`bad snapshot header: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const header = result.data;
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const file of header.files) {
    const target = path.join(dir, file.name);
    const handle = await fs.promises.open(target, 'wx');
    try {
      // Pieces arrive paced (64 KiB): written in 1 MiB runs, a sixteenth of the file system calls,
      // each run one writev of the pieces as they came (not joined into a new buffer first: that
      // copied every received byte once more on the event loop).
      // Synced every 4 MiB, not only at the end: one fsync of a whole range's file would flush tens
      // of MiB at once and hold up the node's log fsyncs on the same disk meanwhile.
      const pending: Buffer[] = [];
      let pendingBytes = 0;
      let unsyncedBytes = 0;
      const writePending = async (): Promise<void> => {
        if (pendingBytes === 0) return;
        const run = pending.splice(0);
        const runBytes = pendingBytes;
        pendingBytes = 0;
        await writeAll(handle, run, runBytes);
        unsyncedBytes += runBytes;
        if (unsyncedBytes >= syncEveryBytes) {
          unsyncedBytes = 0;
          await handle.datasync();
        }
      };
      await reader.take(file.bytes, async (piece) => {
        pending.push(piece);
        pendingBytes += piece.byteLength;
        if (pendingBytes >= chunkBytes || pending.length >= writevBuffersMax) await writePending();
      });
      await writePending();
      await handle.sync();
    } finally {
      await handle.close();
    }
    files.push(target);
  }
  await reader.expectEnd();
  return { header, files };
}
