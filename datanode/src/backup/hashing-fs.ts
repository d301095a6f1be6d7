/**
 * A StorageFs that computes the SHA-256 of every file it writes, as the bytes go by. A backup
 * export builds its SSTables through it, so a file's checksum for the manifest costs no second
 * read: the export writes straight to the destination volume, and the only later read is the
 * check that the object reads back with that checksum.
 */
import { createHash, type Hash } from 'node:crypto';
import { ForwardingFs, type StorageFs } from '../storage/fs.ts';

export class HashingFs extends ForwardingFs {
  private readonly open = new Map<number, { readonly file: string; readonly hash: Hash; bytes: number; unsynced: number }>();
  private readonly digests = new Map<string, { readonly sha256: string; readonly bytes: number }>();

  /**
   * `syncEveryBytes`: flush a file being written to disk after every so many bytes (a blocking
   * fsync: only on a thread of its own, such as the export thread), so that the disk takes an
   * export's bytes as a steady trickle instead of one burst per file at its final fsync, which
   * would stall the WAL fsyncs of client writes queued behind it.
   */
  constructor(
    inner: StorageFs,
    private readonly syncEveryBytes = 0,
  ) {
    super(inner);
  }

  /** The SHA-256 (hex) and size of a file written and closed through this fs; undefined otherwise. */
  digestOf(file: string): { readonly sha256: string; readonly bytes: number } | undefined {
    return this.digests.get(file);
  }

  override openSync(file: string, flags: 'r' | 'r+' | 'w' | 'wx' | 'a'): number {
    const fd = this.inner.openSync(file, flags);
    // Only files created from empty are hashed: appends to an existing file would miss its start.
    if (flags === 'w' || flags === 'wx') {
      this.open.set(fd, { file, hash: createHash('sha256'), bytes: 0, unsynced: 0 });
      this.digests.delete(file);
    }
    return fd;
  }

  override closeSync(fd: number): void {
    this.inner.closeSync(fd);
    const state = this.open.get(fd);
    if (state === undefined) return;
    this.open.delete(fd);
    this.digests.set(state.file, { sha256: state.hash.digest('hex'), bytes: state.bytes });
  }

  override writeAllSync(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): void {
    const state = this.open.get(fd);
    // A positioned write could rewrite earlier bytes: the running hash would no longer be the file's.
    if (state !== undefined && position !== null && position !== state.bytes) throw new Error(`HashingFs: ${state.file} written at ${position}, not at its end (${state.bytes})`);
    this.inner.writeAllSync(fd, buffer, offset, length, position);
    if (state === undefined) return;
    state.hash.update(buffer.subarray(offset, offset + length));
    state.bytes += length;
    state.unsynced += length;
    if (this.syncEveryBytes > 0 && state.unsynced >= this.syncEveryBytes) {
      state.unsynced = 0;
      this.inner.fsyncSync(fd);
    }
  }

  override ftruncateSync(fd: number, length: number): void {
    const state = this.open.get(fd);
    if (state !== undefined && length !== state.bytes) throw new Error(`HashingFs: ${state.file} truncated to ${length} of ${state.bytes} bytes`);
    this.inner.ftruncateSync(fd, length);
  }
  override unlinkSync(file: string): void {
    this.inner.unlinkSync(file);
    this.digests.delete(file);
  }
}
