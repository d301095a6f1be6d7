import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The file operations the storage engine uses. The real implementation calls node:fs; tests
 * substitute one that fails chosen operations (to prove a failed write or fsync is never
 * acknowledged). Synchronous calls are used where the data is usually in the page cache (reads
 * of immutable files, appends to a log); fsync is asynchronous so concurrent writers can share one.
 * Errors are thrown as Node.js errors (with `code`, e.g. ENOSPC); callers wrap them with the file name.
 */
export interface StorageFs {
  openSync(file: string, flags: 'r' | 'r+' | 'w' | 'wx' | 'a'): number;
  closeSync(fd: number): void;
  readSync(fd: number, buffer: Buffer, offset: number, length: number, position: number): number;
  /** Writes all of `length` bytes (loops on short writes) at `position`, or at the end when null. */
  writeAllSync(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): void;
  fsync(fd: number): Promise<void>;
  fsyncSync(fd: number): void;
  fstatSizeSync(fd: number): number;
  ftruncateSync(fd: number, length: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(file: string): void;
  linkSync(existing: string, newPath: string): void;
  readdirSync(dir: string): string[];
  mkdirSync(dir: string): void;
  existsSync(file: string): boolean;
  readFileSync(file: string): Buffer;
  /** fsyncs a directory so that creates, renames and unlinks in it are durable. */
  fsyncDirSync(dir: string): void;
}

export const realFs: StorageFs = {
  openSync: (file, flags) => fs.openSync(file, flags),
  closeSync: (fd) => fs.closeSync(fd),
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  writeAllSync(fd, buffer, offset, length, position) {
    let written = 0;
    while (written < length) {
      const n = fs.writeSync(fd, buffer, offset + written, length - written, position === null ? null : position + written);
      written += n;
    }
  },
  fsync: (fd) =>
    new Promise<void>((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
    }),
  fsyncSync: (fd) => fs.fdatasyncSync(fd),
  fstatSizeSync: (fd) => fs.fstatSync(fd).size,
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (file) => fs.unlinkSync(file),
  linkSync: (existing, newPath) => fs.linkSync(existing, newPath),
  readdirSync: (dir) => fs.readdirSync(dir),
  mkdirSync: (dir) => {
    fs.mkdirSync(dir, { recursive: true });
  },
  existsSync: (file) => fs.existsSync(file),
  readFileSync: (file) => fs.readFileSync(file),
  fsyncDirSync(dir) {
    const fd = fs.openSync(path.resolve(dir), 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
};

/**
 * A StorageFs that passes every call to `inner`: the base of the decorators (fault injection,
 * hashing), which override only the calls they watch.
 */
export class ForwardingFs implements StorageFs {
  constructor(protected readonly inner: StorageFs) {}

  openSync(file: string, flags: 'r' | 'r+' | 'w' | 'wx' | 'a'): number {
    return this.inner.openSync(file, flags);
  }
  closeSync(fd: number): void {
    this.inner.closeSync(fd);
  }
  readSync(fd: number, buffer: Buffer, offset: number, length: number, position: number): number {
    return this.inner.readSync(fd, buffer, offset, length, position);
  }
  writeAllSync(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): void {
    this.inner.writeAllSync(fd, buffer, offset, length, position);
  }
  fsync(fd: number): Promise<void> {
    return this.inner.fsync(fd);
  }
  fsyncSync(fd: number): void {
    this.inner.fsyncSync(fd);
  }
  fstatSizeSync(fd: number): number {
    return this.inner.fstatSizeSync(fd);
  }
  ftruncateSync(fd: number, length: number): void {
    this.inner.ftruncateSync(fd, length);
  }
  renameSync(from: string, to: string): void {
    this.inner.renameSync(from, to);
  }
  unlinkSync(file: string): void {
    this.inner.unlinkSync(file);
  }
  linkSync(existing: string, newPath: string): void {
    this.inner.linkSync(existing, newPath);
  }
  readdirSync(dir: string): string[] {
    return this.inner.readdirSync(dir);
  }
  mkdirSync(dir: string): void {
    this.inner.mkdirSync(dir);
  }
  existsSync(file: string): boolean {
    return this.inner.existsSync(file);
  }
  readFileSync(file: string): Buffer {
    return this.inner.readFileSync(file);
  }
  fsyncDirSync(dir: string): void {
    this.inner.fsyncDirSync(dir);
  }
}

export type FaultOperation = 'write' | 'fsync' | 'open' | 'rename' | 'link';

/**
 * A StorageFs that delegates to another and fails operations chosen by a predicate with a given
 * errno code. For tests of write and fsync failures (real disk-full tests use a small tmpfs).
 */
export class FaultInjectingFs extends ForwardingFs {
  /** When it returns an errno code (e.g. 'EIO'), the operation fails with that code. */
  failWhen: (operation: FaultOperation, target: string) => string | undefined = () => undefined;
  private readonly fdPaths = new Map<number, string>();

  constructor(inner: StorageFs = realFs) {
    super(inner);
  }

  private check(operation: FaultOperation, target: string): void {
    const code = this.failWhen(operation, target);
    if (code !== undefined) {
      const err = new Error(`${code}: injected ${operation} failure on ${target}`) as NodeJS.ErrnoException;
      err.code = code;
      throw err;
    }
  }
  private pathOf(fd: number): string {
    return this.fdPaths.get(fd) ?? `fd:${fd}`;
  }
  override openSync(file: string, flags: 'r' | 'r+' | 'w' | 'wx' | 'a'): number {
    if (flags !== 'r') this.check('open', file);
    const fd = this.inner.openSync(file, flags);
    this.fdPaths.set(fd, file);
    return fd;
  }
  override closeSync(fd: number): void {
    this.fdPaths.delete(fd);
    this.inner.closeSync(fd);
  }
  override writeAllSync(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): void {
    this.check('write', this.pathOf(fd));
    this.inner.writeAllSync(fd, buffer, offset, length, position);
  }
  override async fsync(fd: number): Promise<void> {
    this.check('fsync', this.pathOf(fd));
    await this.inner.fsync(fd);
  }
  override fsyncSync(fd: number): void {
    this.check('fsync', this.pathOf(fd));
    this.inner.fsyncSync(fd);
  }
  override renameSync(from: string, to: string): void {
    this.check('rename', to);
    this.inner.renameSync(from, to);
  }
  override linkSync(existing: string, newPath: string): void {
    this.check('link', newPath);
    this.inner.linkSync(existing, newPath);
  }
  override fsyncDirSync(dir: string): void {
    this.check('fsync', dir);
    this.inner.fsyncDirSync(dir);
  }
}
