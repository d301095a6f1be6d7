/**
 * The node-side half of a backup: one range's export written straight to the destination by the
 * node that holds the range, instead of through the coordinator. To a volume, the SSTables are
 * built in place (`<object>.partial`, flushed, renamed into place); to S3, built in node-local
 * scratch and uploaded. Either way their SHA-256 is computed as they are written (HashingFs), and
 * every object is then read back from the destination and checked against it, so the files this
 * answers are proven readable. An export on the export thread (export-thread.ts) writes, hashes
 * and reads a volume's files back there, before they are renamed into place; this side then
 * checks each object's size. On failure or abort, whatever this export wrote is removed.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { realFs } from '../storage/fs.ts';
import type { ExportedFile } from '../storage/engine.ts';
import { InvalidArgumentError } from '../storage/errors.ts';
import type { MvccExporterOptions } from './engine-adapters.ts';
import { type OutputPattern, outputPathOf } from './export-job.ts';
import { HashingFs } from './hashing-fs.ts';
import { BackupObjectCorruptError, BackupObjectMissingError } from './errors.ts';
import type { BackupFile } from './manifest.ts';
import { checkObject } from './reader.ts';
import { type BackupStore, checkObjectKey, VolumeBackupStore } from './store.ts';
import type { BandwidthLimiter } from './throttle.ts';

/**
 * The exporter options the range writer sets (where and how files are written, pacing), for an
 * export on this thread (through `fs`, at `pathOf`) or on the export thread (at `output`, read
 * back there when `readBack`).
 */
export type RangeExportHooks = Required<Pick<MvccExporterOptions, 'fs' | 'sync' | 'pathOf' | 'pace'>> & {
  readonly output: OutputPattern;
  readonly readBack: boolean;
};

/** A file an export answers; one written on the export thread carries its SHA-256 (and whether it was read back there). */
export type RangeExportedFile = ExportedFile & { readonly sha256?: string; readonly readBack?: boolean };

export interface WriteRangeFilesOptions {
  readonly store: BackupStore;
  /** Runs the export (the caller binds the engine, span and timestamps) into `dir` with `hooks`. */
  readonly exportInto: (dir: string, hooks: RangeExportHooks) => Promise<readonly RangeExportedFile[]>;
  /** Object keys are this prefix + `<index, 6 digits>.sst`. */
  readonly objectKeyPrefix: string;
  /** Node-local scratch for an S3 destination (created and removed here). */
  readonly scratchDir: string;
  /** Paces the export (bytes walked); shared by this node's exports. */
  readonly limiter?: BandwidthLimiter;
  readonly signal: AbortSignal;
  /** Bytes written so far, as the export goes (approximate until the end). */
  readonly onBytes?: (bytes: number) => void;
}

function objectKeyOf(prefix: string, index: number): string {
  const key = `${prefix}${String(index).padStart(6, '0')}.sst`;
  checkObjectKey(key);
  return key;
}

/** Exports one range's piece to the destination and answers its files, each read back and checked. */
export async function writeRangeFiles(options: WriteRangeFilesOptions): Promise<BackupFile[]> {
  const { store, signal } = options;
  signal.throwIfAborted();
  const volume = store instanceof VolumeBackupStore ? store : undefined;
  const hashing = new HashingFs(realFs);
  // Paths of the staged files by index: pathOf is synchronous, the staging folder is made first.
  const stagingDir = volume === undefined ? options.scratchDir : path.dirname(await volume.stagingPathOf(objectKeyOf(options.objectKeyPrefix, 0)));
  await mkdir(stagingDir, { recursive: true });
  const keys: string[] = [];
  const committed: string[] = [];
  const pathOf = (_dir: string, index: number): string => {
    const key = objectKeyOf(options.objectKeyPrefix, index);
    keys[index] = key;
    return volume === undefined ? path.join(options.scratchDir, `${String(index).padStart(6, '0')}.sst`) : `${volume.pathOf(key)}.partial`;
  };
  // The same paths as a pattern, for an export on another thread (checked against pathOf).
  const lastSegment = options.objectKeyPrefix.slice(options.objectKeyPrefix.lastIndexOf('/') + 1);
  const output: OutputPattern = volume === undefined ? { prefix: `${options.scratchDir}${path.sep}`, suffix: '.sst' } : { prefix: `${stagingDir}${path.sep}${lastSegment}`, suffix: '.sst.partial' };
  const expectedFirst = pathOf('', 0);
  if (outputPathOf(output, 0) !== expectedFirst) throw new InvalidArgumentError(`backup output pattern ${outputPathOf(output, 0)} is not ${expectedFirst}`);
  keys.length = 0;
  let walked = 0;
  const pace = async (bytes: number): Promise<void> => {
    signal.throwIfAborted();
    walked += bytes;
    options.onBytes?.(walked);
    if (options.limiter !== undefined) await options.limiter.acquire(bytes);
  };
  try {
    // A volume's files are read back where they are written (on the export thread); S3 objects after upload.
    const exported = await options.exportInto(stagingDir, { fs: hashing, sync: volume !== undefined, pathOf, pace, output, readBack: volume !== undefined });
    for (let index = 0; index < exported.length; index++) keys[index] ??= objectKeyOf(options.objectKeyPrefix, index);
    const files: BackupFile[] = [];
    for (const [index, file] of exported.entries()) {
      const key = keys[index];
      const digest = file.sha256 === undefined ? hashing.digestOf(file.path) : { sha256: file.sha256, bytes: file.fileBytes };
      if (key === undefined || digest === undefined) throw new InvalidArgumentError(`exported file ${file.path} was not written through the backup's file system`);
      if (digest.bytes !== file.fileBytes) throw new InvalidArgumentError(`exported file ${file.path} is ${digest.bytes} bytes, the exporter said ${file.fileBytes}`);
      files.push({ objectKey: key, sizeBytes: file.fileBytes, sha256: digest.sha256, entries: file.entries, smallestKey: file.smallestKey.toString('hex'), largestKey: file.largestKey.toString('hex') });
    }
    signal.throwIfAborted();
    if (volume !== undefined) {
      await volume.commitStaged(files.map((file) => file.objectKey));
      committed.push(...files.map((file) => file.objectKey));
    } else {
      for (const [index, file] of files.entries()) {
        signal.throwIfAborted();
        const source = createReadStream((exported[index] as ExportedFile).path, { highWaterMark: 1024 * 1024 });
        committed.push(file.objectKey);
        try {
          await store.put(file.objectKey, source, file.sizeBytes);
        } finally {
          source.destroy();
        }
      }
    }
    const readBack = volume !== undefined && exported.length > 0 && exported.every((file) => file.readBack === true);
    for (const file of files) {
      signal.throwIfAborted();
      if (!readBack) {
        await checkObject(store, file);
        continue;
      }
      // Read back before the rename (same bytes): the object must be in place, whole.
      const head = await store.head(file.objectKey);
      if (head === undefined) throw new BackupObjectMissingError(file.objectKey);
      if (head.sizeBytes !== file.sizeBytes) throw new BackupObjectCorruptError(file.objectKey, `size is ${head.sizeBytes} bytes, its writer wrote ${file.sizeBytes}`);
    }
    options.onBytes?.(files.reduce((sum, file) => sum + file.sizeBytes, 0));
    return files;
  } catch (error) {
    await volume?.discardStaged(keys.filter((key) => key !== undefined)).catch(() => undefined);
    await store.delete(committed).catch(() => undefined);
    throw error;
  } finally {
    if (volume === undefined) await rm(options.scratchDir, { recursive: true, force: true });
  }
}
