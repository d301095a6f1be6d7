/**
 * Reading backups back: manifests, chains of incrementals, verification of every object, and
 * restore through a `RangeIngester`.
 *
 * A restore never yields a partial result: every object of the whole chain is downloaded and
 * checked (size and SHA-256) into a scratch directory before the first one is handed to the
 * ingester. A missing or corrupt object fails the restore with an error that names it.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assert } from '../assert.ts';
import { compareTimestamps, parseTimestamp } from '../hlc/hlc.ts';
import { BackupChainBrokenError, BackupManifestInvalidError, BackupObjectCorruptError, BackupObjectMissingError } from './errors.ts';
import { type BackupFile, type BackupManifest, decodeManifest, manifestBytesMax, manifestKey } from './manifest.ts';
import type { BackupProgress, RangeIngester, Timers } from './ports.ts';
import type { BackupStore } from './store.ts';
import { BandwidthLimiter, HashingThrottle, forEachBounded } from './throttle.ts';

/** Longest chain of incrementals followed (a loop or a runaway chain stops here). */
export const backupChainLengthMax = 1000;
const defaultConcurrency = 4;

export async function readAll(store: BackupStore, key: string, bytesMax: number): Promise<Buffer> {
  const body = await store.get(key);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buffer.length;
    if (total > bytesMax) {
      body.destroy();
      throw new BackupManifestInvalidError(key, `larger than ${bytesMax} bytes`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads and validates one backup's manifest. */
export async function readManifest(store: BackupStore, backupId: string): Promise<BackupManifest> {
  const key = manifestKey(backupId);
  let bytes: Buffer;
  try {
    bytes = await readAll(store, key, manifestBytesMax);
  } catch (error) {
    if (error instanceof BackupObjectMissingError) throw new BackupManifestInvalidError(key, `not found at ${store.description} (no finished backup ${backupId})`);
    throw error;
  }
  return decodeManifest(key, bytes);
}

/**
 * The chain that restores `backupId`: its full backup first, then each incremental up to and
 * including `backupId`. Checks that every link exists, belongs to the same cluster, and is
 * strictly older than its child with the timestamp the child recorded.
 */
export async function resolveChain(store: BackupStore, backupId: string): Promise<BackupManifest[]> {
  const chain: BackupManifest[] = [];
  let current = await readManifest(store, backupId);
  chain.push(current);
  while (current.parent !== undefined) {
    if (chain.length >= backupChainLengthMax) throw new BackupChainBrokenError(`backup ${backupId}: the chain is longer than ${backupChainLengthMax} backups (or loops)`);
    const parentLink = current.parent;
    let parent: BackupManifest;
    try {
      parent = await readManifest(store, parentLink.backupId);
    } catch (error) {
      if (error instanceof BackupManifestInvalidError) throw new BackupChainBrokenError(`backup ${current.backupId} builds on ${parentLink.backupId}, which cannot be read: ${error.message}`);
      throw error;
    }
    if (parent.clusterId !== current.clusterId) throw new BackupChainBrokenError(`backup ${current.backupId} (cluster ${current.clusterId}) builds on ${parent.backupId} of another cluster (${parent.clusterId})`);
    if (parent.backupTimestamp !== parentLink.backupTimestamp) {
      throw new BackupChainBrokenError(`backup ${current.backupId} expects its parent ${parent.backupId} at ${parentLink.backupTimestamp}, but that backup is at ${parent.backupTimestamp}`);
    }
    if (compareTimestamps(parseTimestamp(parent.backupTimestamp), parseTimestamp(current.backupTimestamp)) >= 0) {
      throw new BackupChainBrokenError(`backup ${current.backupId} is not newer than its parent ${parent.backupId}`);
    }
    chain.push(parent);
    current = parent;
  }
  return chain.reverse();
}

interface CheckedObject {
  readonly file: BackupFile;
  readonly sink: () => Writable;
}

/** Streams one object through a hash into `sink`, and checks its size and checksum. */
async function fetchAndCheck(store: BackupStore, object: CheckedObject, limiter: BandwidthLimiter | undefined, onBytes: (bytes: number) => void): Promise<void> {
  const { file } = object;
  const head = await store.head(file.objectKey);
  if (head === undefined) throw new BackupObjectMissingError(file.objectKey);
  if (head.sizeBytes !== file.sizeBytes) throw new BackupObjectCorruptError(file.objectKey, `size is ${head.sizeBytes} bytes, the manifest says ${file.sizeBytes}`);
  const hashing = new HashingThrottle(limiter, onBytes);
  await pipeline(await store.get(file.objectKey), hashing, object.sink());
  if (hashing.bytes !== file.sizeBytes) throw new BackupObjectCorruptError(file.objectKey, `read ${hashing.bytes} bytes, the manifest says ${file.sizeBytes}`);
  const sha256 = hashing.digestHex();
  if (sha256 !== file.sha256) throw new BackupObjectCorruptError(file.objectKey, `SHA-256 is ${sha256}, the manifest says ${file.sha256}`);
}

/**
 * Reads one object back and checks its size and SHA-256 against `file` (what the writer
 * recorded). Throws BackupObjectMissingError or BackupObjectCorruptError naming the object.
 */
export function checkObject(store: BackupStore, file: BackupFile, limiter?: BandwidthLimiter, onBytes: (bytes: number) => void = () => undefined): Promise<void> {
  return fetchAndCheck(store, { file, sink: discard }, limiter, onBytes);
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

export interface VerifyOptions {
  /** Stops the verification before the next object (it then rejects with the signal's reason). */
  readonly signal?: AbortSignal;
  readonly concurrency?: number;
  readonly bandwidthBytesPerSecond?: number;
  readonly timers: Timers;
  readonly onProgress?: (progress: BackupProgress) => void;
}

export interface VerificationResult {
  readonly manifest: BackupManifest;
  readonly objects: number;
  readonly bytes: number;
}

/**
 * Re-reads every object of one backup and checks its size and SHA-256 against the manifest.
 * Throws the first problem found in object-key order (BackupObjectMissingError or
 * BackupObjectCorruptError) after checking every object, so the answer does not depend on timing.
 */
export async function verifyBackup(store: BackupStore, backupId: string, options: VerifyOptions): Promise<VerificationResult> {
  const manifest = await readManifest(store, backupId);
  const limiter = options.bandwidthBytesPerSecond === undefined ? undefined : new BandwidthLimiter(options.bandwidthBytesPerSecond, options.timers);
  let bytesDone = 0;
  let rangesDone = 0;
  const problems = new Map<string, unknown>();
  await forEachBounded(manifest.ranges, options.concurrency ?? defaultConcurrency, async (range) => {
    for (const file of range.files) {
      options.signal?.throwIfAborted();
      try {
        await fetchAndCheck(store, { file, sink: discard }, limiter, (bytes) => {
          bytesDone += bytes;
        });
      } catch (error) {
        if (!(error instanceof BackupObjectMissingError || error instanceof BackupObjectCorruptError)) throw error;
        problems.set(file.objectKey, error);
      }
    }
    rangesDone++;
    options.onProgress?.({ rangesDone, rangesTotal: manifest.ranges.length, bytesDone });
  });
  const firstKey = [...problems.keys()].sort()[0];
  if (firstKey !== undefined) throw problems.get(firstKey);
  const objects = manifest.ranges.reduce((sum, range) => sum + range.files.length, 0);
  return { manifest, objects, bytes: manifest.totalBytes };
}

export interface RestoreOptions {
  readonly store: BackupStore;
  /** The backup to restore; its chain (full + incrementals) is restored up to it. */
  readonly backupId: string;
  /** Refuse a backup of another cluster id (when restoring "from cluster X"). */
  readonly expectedClusterId?: string;
  readonly ingester: RangeIngester;
  /** A directory of its own where verified files are staged; removed before and after the restore. */
  readonly scratchDir: string;
  readonly concurrency?: number;
  readonly bandwidthBytesPerSecond?: number;
  readonly timers: Timers;
  readonly onProgress?: (progress: BackupProgress) => void;
}

export interface RestoreResult {
  readonly chain: readonly BackupManifest[];
  /** The timestamp the restored data is as of (the last backup's). */
  readonly backupTimestamp: string;
  readonly files: number;
  readonly bytes: number;
}

/**
 * Restores a backup chain through the ingester. Every object is downloaded and verified before
 * any is ingested; then batches go to the ingester in chain order (full first), range by range.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const chain = await resolveChain(options.store, options.backupId);
  const target = chain[chain.length - 1];
  if (target === undefined) throw new BackupChainBrokenError(`backup ${options.backupId} has an empty chain`);
  if (options.expectedClusterId !== undefined && target.clusterId !== options.expectedClusterId) {
    throw new BackupChainBrokenError(`backup ${options.backupId} belongs to cluster ${target.clusterId}, not ${options.expectedClusterId}`);
  }
  const limiter = options.bandwidthBytesPerSecond === undefined ? undefined : new BandwidthLimiter(options.bandwidthBytesPerSecond, options.timers);
  const work = chain.flatMap((manifest) => manifest.ranges.map((range) => ({ manifest, range })));
  const rangesTotal = work.length;
  let rangesDone = 0;
  let bytesDone = 0;
  await rm(options.scratchDir, { recursive: true, force: true });
  try {
    const staged = new Map<string, string>();
    await forEachBounded(work, options.concurrency ?? defaultConcurrency, async ({ range }) => {
      for (const file of range.files) {
        const local = path.join(options.scratchDir, ...file.objectKey.split('/'));
        await mkdir(path.dirname(local), { recursive: true });
        await fetchAndCheck(options.store, { file, sink: () => createWriteStream(local) }, limiter, (bytes) => {
          bytesDone += bytes;
        });
        staged.set(file.objectKey, local);
      }
    });
    for (const { manifest, range } of work) {
      const paths = range.files.map((file) => {
        const local = staged.get(file.objectKey);
        assert(local !== undefined, `object ${file.objectKey} was staged`);
        return local;
      });
      if (paths.length > 0) {
        const span = { rangeId: range.rangeId, startKey: Buffer.from(range.startKey, 'hex'), endKey: Buffer.from(range.endKey, 'hex') };
        await options.ingester.ingest({ backupId: manifest.backupId, span, paths });
      }
      rangesDone++;
      options.onProgress?.({ rangesDone, rangesTotal, bytesDone });
    }
  } finally {
    await rm(options.scratchDir, { recursive: true, force: true });
  }
  const files = chain.reduce((sum, manifest) => sum + manifest.ranges.reduce((s, range) => s + range.files.length, 0), 0);
  const bytes = chain.reduce((sum, manifest) => sum + manifest.totalBytes, 0);
  return { chain, backupTimestamp: target.backupTimestamp, files, bytes };
}
