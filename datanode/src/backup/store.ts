/**
 * Where backup objects live. A `BackupStore` is a flat namespace of object keys ("a/b/c") with
 * whole-object writes; the two destinations are a directory on a volume and an S3-compatible
 * bucket. Writers stream bodies through it; readers stream them back out.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { InvalidArgumentError } from '../storage/errors.ts';
import { BackupObjectExistsError, BackupObjectMissingError } from './errors.ts';
import { hostPathOf } from './test-mounts.ts';

export interface BackupStore {
  /** A human-readable name of the destination, for messages ("s3://bucket/prefix", "/mnt/backups"). */
  readonly description: string;
  /** Writes an object from a stream of exactly `sizeBytes` bytes, replacing any object at `key`. */
  put(key: string, body: Readable, sizeBytes: number): Promise<void>;
  /**
   * As put, but only if no object is at `key`: throws BackupObjectExistsError (leaving the
   * existing object) when there is one. On a volume the file system makes it atomic; on S3 it is
   * a conditional write (If-None-Match: *), which AWS S3 and MinIO honour but some S3-compatible
   * stores ignore (s3rver overwrites): see manifest-write.ts for what callers do about that.
   */
  putNew(key: string, body: Readable, sizeBytes: number): Promise<void>;
  /** Streams an object's body. Throws BackupObjectMissingError when there is none. */
  get(key: string): Promise<Readable>;
  /** An object's size, or undefined when there is none. */
  head(key: string): Promise<{ readonly sizeBytes: number } | undefined>;
  /** Keys of every object under `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Deletes objects; keys that do not exist are ignored. */
  delete(keys: readonly string[]): Promise<void>;
}

/** Object keys are relative, slash-separated, with no empty, "." or ".." segments. */
export function checkObjectKey(key: string): void {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 1024 || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new InvalidArgumentError(`invalid backup object key "${key}"`);
  }
}

/** Makes a rename in `dir` durable (the file's own data was flushed before the rename). */
async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Objects as files under a directory (a mounted volume). Writes go to a temp file that is flushed,
 * renamed into place, and the directory synced, so an object is either whole or absent.
 */
export class VolumeBackupStore implements BackupStore {
  readonly description: string;
  private readonly rootDir: string;
  /** `rootDir` as the node sees it (under the test kubelet: its test mounts, see test-mounts.ts). */
  constructor(rootDir: string) {
    this.description = rootDir;
    this.rootDir = hostPathOf(rootDir);
  }

  /** The file an object lives in (the key is checked first). */
  pathOf(key: string): string {
    checkObjectKey(key);
    return path.join(this.rootDir, ...key.split('/'));
  }

  /**
   * Where a writer on this node may build an object in place (`<file>.partial`, never listed),
   * to `commitStaged` afterwards: an export writes its SSTables here directly instead of
   * copying them in. Creates the object's folder.
   */
  async stagingPathOf(key: string): Promise<string> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    return `${file}.partial`;
  }

  /**
   * Moves staged objects (written and flushed at stagingPathOf) into place and syncs their
   * folders once: each object is whole or absent, as with put.
   */
  async commitStaged(keys: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const file = this.pathOf(key);
      await rename(`${file}.partial`, file);
      dirs.add(path.dirname(file));
    }
    for (const dir of dirs) await fsyncDirectory(dir);
  }

  /** Removes staged objects that will not be committed (absent ones are ignored). */
  async discardStaged(keys: readonly string[]): Promise<void> {
    for (const key of keys) await rm(`${this.pathOf(key)}.partial`, { force: true });
  }

  async put(key: string, body: Readable, sizeBytes: number): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.partial`;
    try {
      await pipeline(body, createWriteStream(temp, { flush: true, highWaterMark: 1024 * 1024 }));
      const written = (await stat(temp)).size;
      if (written !== sizeBytes) throw new InvalidArgumentError(`backup object ${key}: body was ${written} bytes, expected ${sizeBytes}`);
      await rename(temp, target);
      await fsyncDirectory(path.dirname(target));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  /**
   * As put, but throws BackupObjectExistsError (leaving the existing object) when the key exists:
   * the object is written aside and hard-linked into place, which the file system does atomically.
   */
  async putNew(key: string, body: Readable, sizeBytes: number): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.${process.pid}.new.partial`;
    try {
      await pipeline(body, createWriteStream(temp, { flush: true }));
      const written = (await stat(temp)).size;
      if (written !== sizeBytes) throw new InvalidArgumentError(`backup object ${key}: body was ${written} bytes, expected ${sizeBytes}`);
      try {
        await link(temp, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new BackupObjectExistsError(key);
        throw error;
      }
      await fsyncDirectory(path.dirname(target));
    } finally {
      await rm(temp, { force: true });
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    if ((await this.head(key)) === undefined) throw new BackupObjectMissingError(key);
    // Large sequential reads (restore and verification read every object whole).
    return createReadStream(file, { highWaterMark: 1024 * 1024 });
  }

  async head(key: string): Promise<{ readonly sizeBytes: number } | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { sizeBytes: info.size } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    return this.walk(prefix, false);
  }

  /**
   * Keys of the temporary files (`….partial`, never listed) under `prefix`: uploads or staged
   * exports that a crash or a cancelled writer left behind. Deleting a backup deletes them too.
   */
  async listPartial(prefix: string): Promise<string[]> {
    return this.walk(prefix, true);
  }

  private async walk(prefix: string, partial: boolean): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const entry of entries) {
        const key = keyPrefix + entry.name;
        if (entry.isDirectory()) await walk(path.join(dir, entry.name), `${key}/`);
        else if (entry.isFile() && entry.name.endsWith('.partial') === partial && key.startsWith(prefix)) out.push(key);
      }
    };
    await walk(this.rootDir, '');
    return out.sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const file = this.pathOf(key);
      await rm(file, { force: true });
      // Remove folders the deletion emptied, up to (not including) the root.
      for (let dir = path.dirname(file); dir.startsWith(`${this.rootDir}${path.sep}`) && dir !== this.rootDir; dir = path.dirname(dir)) {
        try {
          await rmdir(dir);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT') break;
          throw error;
        }
      }
    }
  }
}

export interface S3StoreConfig {
  readonly bucket: string;
  /** Key prefix (without a trailing slash is fine); objects are `<prefix>/<key>`. */
  readonly prefix: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  /** Static credentials; without them the SDK's default provider chain (IRSA, env) is used. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/**
 * The store configuration of an S3 destination as the callers hold it (a restore source, an
 * operator destination: other fields are ignored), with `credentials` when there are static ones.
 * Absent (undefined) endpoint and credentials are left out, not set to undefined.
 */
export function s3StoreConfig(
  s3: { readonly bucket: string; readonly prefix: string; readonly region: string; readonly forcePathStyle: boolean; readonly endpoint?: string | undefined },
  credentials: S3StoreConfig['credentials'] | undefined,
): S3StoreConfig {
  return {
    bucket: s3.bucket,
    prefix: s3.prefix,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }),
    ...(credentials === undefined ? {} : { credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey } }),
  };
}

const listPageKeysMax = 1000;

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
}

/** Objects in an S3-compatible bucket (AWS S3, MinIO, s3rver, ...). */
export class S3BackupStore implements BackupStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly prefix: string;

  constructor(private readonly config: S3StoreConfig) {
    this.prefix = config.prefix.replace(/^\/+|\/+$/g, '');
    this.description = `s3://${config.bucket}/${this.prefix}`;
    this.client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      // Checksums only where S3 requires them: the newer default sends streaming bodies in the
      // aws-chunked encoding with trailing checksums, which many S3-compatible stores store
      // verbatim. Integrity is ours anyway: every object's SHA-256 is in the manifest and verified.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      ...(config.credentials === undefined ? {} : { credentials: { ...config.credentials } }),
    });
  }

  private objectKey(key: string): string {
    checkObjectKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  async put(key: string, body: Readable, sizeBytes: number): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key), Body: body, ContentLength: sizeBytes }));
  }

  async putNew(key: string, body: Readable, sizeBytes: number): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key), Body: body, ContentLength: sizeBytes, IfNoneMatch: '*' }));
    } catch (error) {
      // 412: the object exists. (409 ConditionalRequestConflict, a concurrent write to the key,
      // is rethrown: the caller retries, and then finds the object or writes it.)
      if (error instanceof S3ServiceException && (error.$metadata.httpStatusCode === 412 || error.name === 'PreconditionFailed')) throw new BackupObjectExistsError(key);
      throw error;
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
      if (response.Body === undefined) throw new BackupObjectMissingError(key);
      return response.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new BackupObjectMissingError(key);
      throw error;
    }
  }

  async head(key: string): Promise<{ readonly sizeBytes: number } | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
      return { sizeBytes: response.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const full = this.prefix === '' ? prefix : `${this.prefix}/${prefix}`;
    const strip = this.prefix === '' ? 0 : this.prefix.length + 1;
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: full, MaxKeys: listPageKeysMax, ...(token === undefined ? {} : { ContinuationToken: token }) }),
      );
      for (const object of page.Contents ?? []) if (object.Key !== undefined) out.push(object.Key.slice(strip));
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let at = 0; at < keys.length; at += listPageKeysMax) {
      const batch = keys.slice(at, at + listPageKeysMax).map((key) => ({ Key: this.objectKey(key) }));
      await this.client.send(new DeleteObjectsCommand({ Bucket: this.config.bucket, Delete: { Objects: batch, Quiet: true } }));
    }
  }

  /** Releases the HTTP connections. */
  destroy(): void {
    this.client.destroy();
  }
}
