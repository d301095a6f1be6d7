/**
 * Starting a new cluster from a backup (issue 6 §3, data node side): before a node bootstraps
 * the ranges of a new cluster (--peers, or pod 0 of a new StatefulSet), it downloads and verifies
 * the whole chain of the backup (full + incrementals, backup/reader.ts: every object checked
 * before any is used) and ingests it into its engine. With --peers every initial voter does the
 * same, so the bootstrapped replicas start identical; in a StatefulSet pod 0 bootstraps alone
 * and the pods that join get the data by snapshots. Reads then see exactly the data as of the
 * backup's timestamp. A missing or corrupt object stops the node with an error naming the object: a
 * cluster never comes up with part of the data.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { EngineRangeIngester } from '../backup/engine-adapters.ts';
import { systemTimers } from '../backup/ports.ts';
import { restoreBackup, type RestoreResult } from '../backup/reader.ts';
import { S3BackupStore, VolumeBackupStore, s3StoreConfig, type BackupStore } from '../backup/store.ts';
import type { KvEngine } from '../kv/state-machine.ts';
import { ConfigError } from './config.ts';

export const restoreSourceSchema = z
  .object({
    backupId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/),
    volume: z.object({ path: z.string().startsWith('/') }).strict().optional(),
    s3: z
      .object({
        bucket: z.string().min(1),
        prefix: z.string().default(''),
        region: z.string().default('us-east-1'),
        endpoint: z.string().optional(),
        forcePathStyle: z.boolean().default(false),
        accessKeyId: z.string().optional(),
        secretAccessKey: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((source) => (source.volume === undefined) !== (source.s3 === undefined), { message: 'exactly one of volume or s3' });

export type RestoreSource = z.output<typeof restoreSourceSchema>;

/** Parses --restore-from; a ConfigError says what is wrong. */
export function parseRestoreSource(json: string): RestoreSource {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(`restoreFrom is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = restoreSourceSchema.safeParse(parsed);
  if (!result.success) throw new ConfigError(`restoreFrom: ${result.error.issues.map((issue) => `${issue.path.join('.') || '(source)'}: ${issue.message}`).join('; ')}`);
  return result.data;
}

function storeOf(source: RestoreSource): BackupStore {
  if (source.volume !== undefined) return new VolumeBackupStore(source.volume.path);
  const s3 = source.s3;
  if (s3 === undefined) throw new ConfigError('restoreFrom names neither volume nor s3');
  return new S3BackupStore(s3StoreConfig(s3, s3.accessKeyId === undefined || s3.secretAccessKey === undefined ? undefined : { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }));
}

/** Downloads, verifies and ingests the backup chain into `kv` (before the ranges are bootstrapped). */
export async function ingestBackup(kv: KvEngine, source: RestoreSource, dataDir: string, log: (line: string) => void): Promise<RestoreResult> {
  const store = storeOf(source);
  log(`restoring backup ${source.backupId} from ${store.description} before bootstrapping`);
  const started = performance.now();
  let result: RestoreResult;
  try {
    result = await restoreBackup({ store, backupId: source.backupId, ingester: new EngineRangeIngester(kv.engine), scratchDir: path.join(dataDir, 'restore-scratch'), timers: systemTimers });
  } finally {
    if (store instanceof S3BackupStore) store.destroy();
  }
  await kv.flush();
  // The duration is part of the line: bench/backup.ts reads it to measure restore throughput.
  const seconds = (performance.now() - started) / 1000;
  log(`restored backup ${source.backupId}: ${result.chain.length} backup(s), ${result.files} files, ${result.bytes} bytes, data as of ${result.backupTimestamp}, in ${seconds.toFixed(2)} s`);
  return result;
}
