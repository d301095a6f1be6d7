/**
 * Writing a backup's manifest at most once per backup id. Two coordinators may run one backup
 * at once (a meta leader deposed mid-backup keeps going while the new leader runs it again), and
 * the manifest decides which run's files the backup is: the run whose manifest is at the
 * destination deletes the files of the others, so a run must know for sure that the manifest
 * there is its own before deleting anything.
 *
 * The write is exclusive where the destination can do it: a volume links the file into place
 * (atomic), S3 writes with If-None-Match: * (AWS S3 and MinIO refuse a second writer with 412).
 * Some S3-compatible stores ignore the condition and overwrite (s3rver 3.7 does), so the
 * manifest is read back afterwards and counts as written only if it is byte for byte this run's
 * (its createdAt and file keys differ between runs). The coordinator also fences the write
 * through the meta range right before it (a deposed coordinator's proposal fails).
 *
 * The window that remains on a store that ignores the condition: run A fences, finds no
 * manifest, then stalls for longer than an election plus run B's whole finish (fence, write,
 * read back, delete A's files); A's write then replaces B's manifest with one naming files B
 * deleted. A's read-back sees its own manifest, so nothing tells A. It needs a coordinator to
 * stall between two adjacent awaits for seconds while another node becomes meta leader and
 * finishes the same backup; the operator's verification (every object re-read after the
 * backup) then fails the backup instead of calling it Completed.
 */
import { Readable } from 'node:stream';
import { BackupObjectExistsError } from './errors.ts';
import { type BackupManifest, encodeManifest, manifestBytesMax, manifestKey } from './manifest.ts';
import { readAll } from './reader.ts';
import type { BackupStore } from './store.ts';

/** `written`: the manifest at the destination is this one. `another-run`: another run's is there. */
export type ManifestWriteOutcome = 'written' | 'another-run';

/** Writes `manifest` unless a manifest of its backup exists; answers whose manifest is there afterwards. */
export async function writeManifestOnce(store: BackupStore, manifest: BackupManifest): Promise<ManifestWriteOutcome> {
  const key = manifestKey(manifest.backupId);
  if ((await store.head(key)) !== undefined) return 'another-run';
  const body = encodeManifest(manifest);
  try {
    await store.putNew(key, Readable.from([body]), body.length);
  } catch (err) {
    if (err instanceof BackupObjectExistsError) return 'another-run';
    throw err;
  }
  const stored = await readAll(store, key, manifestBytesMax);
  return stored.equals(body) ? 'written' : 'another-run';
}
