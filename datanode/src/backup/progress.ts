/**
 * A backup run's progress, recorded at the destination so that another coordinator can resume
 * the run after this one died or lost the meta range's leadership (the operator asks the new
 * meta leader for the same backup id). Objects, next to the backup's files:
 *   <backupId>/progress/run.json                 the backup timestamp T the run exports at
 *   <backupId>/progress/<runTag>-s<n>.json       one span written completely at T: its files
 * A span record is written only after every file of the span was written and read back by its
 * writer (SHA-256 checked), so a record names files that were whole; a resuming run still checks
 * that each is there with its size before keeping it. Records are never part of a backup: the
 * run that writes the manifest deletes them with the other runs' leftovers.
 *
 * Whether a run may resume at T at all (T still protected from GC) is the coordinator's call.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { type BackupRange, backupRangeSchema } from './manifest.ts';
import type { RangeSpan } from './ports.ts';
import { readAll } from './reader.ts';
import type { BackupStore } from './store.ts';

const recordBytesMax = 64 * 1024 * 1024;

const runRecordSchema = z.object({
  backupTimestamp: z.string().min(1),
  type: z.enum(['full', 'incremental']),
  parentBackupId: z.string(),
});
export type RunRecord = z.output<typeof runRecordSchema>;

const spanRecordSchema = z.object({
  backupTimestamp: z.string().min(1),
  range: backupRangeSchema,
});

export function runRecordKey(backupId: string): string {
  return `${backupId}/progress/run.json`;
}

export function spanRecordKey(backupId: string, runTag: string, spanIndex: number): string {
  return `${backupId}/progress/${runTag}-s${spanIndex}.json`;
}

async function putJson(store: BackupStore, key: string, value: unknown): Promise<void> {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  await store.put(key, Readable.from([body]), body.length);
}

async function readJson<T>(store: BackupStore, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readAll(store, key, recordBytesMax);
  } catch {
    return undefined; // missing or unreadable: nothing to resume from it
  }
  try {
    const parsed = schema.safeParse(JSON.parse(bytes.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function writeRunRecord(store: BackupStore, backupId: string, record: RunRecord): Promise<void> {
  return putJson(store, runRecordKey(backupId), record);
}

/** The run record of `backupId` (undefined when there is none, or it does not parse). */
export function readRunRecord(store: BackupStore, backupId: string): Promise<RunRecord | undefined> {
  return readJson(store, runRecordKey(backupId), runRecordSchema);
}

export function writeSpanRecord(store: BackupStore, backupId: string, runTag: string, spanIndex: number, backupTimestamp: string, range: BackupRange): Promise<void> {
  return putJson(store, spanRecordKey(backupId, runTag, spanIndex), { backupTimestamp, range });
}

/** Compares end keys, the empty key being the end of the keyspace. */
function compareEnds(a: Buffer, b: Buffer): number {
  if (a.length === 0 || b.length === 0) return (a.length === 0 ? 1 : 0) - (b.length === 0 ? 1 : 0);
  return Buffer.compare(a, b);
}

/** Whether end key `end` lies beyond start key `start` (the empty end is the end of the keyspace). */
function endsAfter(end: Buffer, start: Buffer): boolean {
  return end.length === 0 || Buffer.compare(end, start) > 0;
}

/**
 * The spans of `backupId` that earlier runs wrote completely at `backupTimestamp`, with every
 * file in place at its recorded size, in key order and without overlaps (of overlapping records,
 * the one that starts first is kept; the others' keys are redone or covered by it).
 */
export async function finishedSpans(store: BackupStore, backupId: string, backupTimestamp: string): Promise<BackupRange[]> {
  const keys = (await store.list(`${backupId}/progress/`)).filter((key) => key !== runRecordKey(backupId) && key.endsWith('.json'));
  const candidates: BackupRange[] = [];
  for (const key of keys) {
    const record = await readJson(store, key, spanRecordSchema);
    if (record === undefined || record.backupTimestamp !== backupTimestamp) continue;
    let whole = true;
    for (const file of record.range.files) {
      if (!file.objectKey.startsWith(`${backupId}/`) || (await store.head(file.objectKey))?.sizeBytes !== file.sizeBytes) {
        whole = false;
        break;
      }
    }
    if (whole) candidates.push(record.range);
  }
  candidates.sort((a, b) => Buffer.compare(Buffer.from(a.startKey, 'hex'), Buffer.from(b.startKey, 'hex')) || compareEnds(Buffer.from(b.endKey, 'hex'), Buffer.from(a.endKey, 'hex')));
  const chosen: BackupRange[] = [];
  for (const range of candidates) {
    const last = chosen.at(-1);
    if (last !== undefined && endsAfter(Buffer.from(last.endKey, 'hex'), Buffer.from(range.startKey, 'hex'))) continue;
    chosen.push(range);
  }
  return chosen;
}

/**
 * What of `spans` (the ranges now, in key order, covering the keyspace) the `kept` spans (in key
 * order, not overlapping) do not cover: the pieces still to write, each within one range.
 */
export function remainingSpans(spans: readonly RangeSpan[], kept: readonly BackupRange[]): RangeSpan[] {
  const done = kept.map((range) => ({ startKey: Buffer.from(range.startKey, 'hex'), endKey: Buffer.from(range.endKey, 'hex') }));
  const out: RangeSpan[] = [];
  for (const span of spans) {
    let cursor: Buffer | undefined = span.startKey; // undefined: past the end of the keyspace
    for (const range of done) {
      if (cursor === undefined) break;
      // Kept spans that end at or before the cursor, or start at or after the span's end, do not touch it.
      if (!endsAfter(range.endKey, cursor)) continue;
      if (!endsAfter(span.endKey, range.startKey)) break;
      if (Buffer.compare(range.startKey, cursor) > 0) out.push({ rangeId: span.rangeId, startKey: cursor, endKey: range.startKey });
      cursor = range.endKey.length === 0 ? undefined : range.endKey;
    }
    if (cursor !== undefined && endsAfter(span.endKey, cursor)) out.push({ rangeId: span.rangeId, startKey: cursor, endKey: span.endKey });
  }
  return out;
}
