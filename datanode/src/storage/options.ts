import { z } from 'zod';
import { InvalidOptionsError } from './errors.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Storage engine options. Every limit is named with its unit last. Defaults suit a data node
 * with a few GiB of data on one disk; the benchmark and tests override some of them.
 */
export const engineOptionsSchema = z
  .object({
    /** Size at which the active memtable is frozen and a new one (with a new WAL file) started. */
    memtableBytesMax: z.number().int().min(64 * KiB).max(1024 * MiB).default(32 * MiB),
    /** Frozen memtables waiting for flush; at this count writers stall until a flush finishes. */
    immutableMemtablesMax: z.number().int().min(1).max(16).default(2),
    /** L0 file count that triggers an L0 → L1 compaction. */
    l0CompactionTriggerFiles: z.number().int().min(1).max(64).default(4),
    /** L0 file count at which each write is delayed by `slowdownDelayMs`. */
    l0SlowdownTriggerFiles: z.number().int().min(1).max(256).default(12),
    /** L0 file count at which writes stall until compaction catches up. */
    l0StopTriggerFiles: z.number().int().min(1).max(512).default(20),
    slowdownDelayMs: z.number().int().min(0).max(1000).default(1),
    /** A write that stalls longer than this fails with PH_WRITE_STALL_TIMEOUT. */
    writeStallTimeoutMs: z.number().int().min(1).max(3_600_000).default(120_000),
    /** Target size of L1; each deeper level is `levelSizeMultiplier` times larger. */
    levelBaseBytes: z.number().int().min(64 * KiB).default(64 * MiB),
    levelSizeMultiplier: z.number().int().min(2).max(100).default(10),
    levelsMax: z.number().int().min(2).max(12).default(7),
    /** Compaction output files are cut at about this size. */
    targetFileBytes: z.number().int().min(16 * KiB).max(1024 * MiB).default(16 * MiB),
    blockSizeBytes: z.number().int().min(256).max(4 * MiB).default(4 * KiB),
    blockRestartInterval: z.number().int().min(1).max(1024).default(16),
    bloomBitsPerKey: z.number().int().min(0).max(64).default(10),
    /** Byte-bounded LRU cache of decoded blocks shared by all tables. */
    blockCacheBytes: z.number().int().min(0).default(64 * MiB),
    /** Background compaction write rate limit; 0 means unlimited. */
    compactionBytesPerSecMax: z.number().int().min(0).default(0),
    /** A manifest larger than this is rewritten as one snapshot record into a new file. */
    manifestBytesMax: z.number().int().min(64 * KiB).default(64 * MiB),
    /** Default durability of a write batch when the call does not say. */
    syncWritesByDefault: z.boolean().default(true),
    /** Check block checksums on every read from disk (cached blocks were checked once). */
    verifyChecksums: z.boolean().default(true),
    /** Run flushes and compactions on a worker thread (the second core); off runs them on the caller's thread. */
    backgroundThread: z.boolean().default(true),
    /** Keys written by the transaction layer are MVCC-encoded (see mvcc.ts); enables version GC in compaction. */
    mvccGarbageCollection: z.boolean().default(false),
    /** With mvccGarbageCollection: only keys starting with this byte are MVCC-encoded (-1: every key is). */
    mvccKeyPrefixByte: z.number().int().min(-1).max(255).default(-1),
    /**
     * With mvccGarbageCollection: an MVCC version whose value is exactly this one byte is a
     * deletion tombstone (-1: the engine does not know tombstones). A tombstone that is a key's
     * newest version at or below the GC threshold is collected too once nothing older of the key
     * can be left below it.
     */
    mvccTombstoneByte: z.number().int().min(-1).max(255).default(-1),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!(o.l0CompactionTriggerFiles <= o.l0SlowdownTriggerFiles)) {
      ctx.addIssue({ code: 'custom', path: ['l0SlowdownTriggerFiles'], message: 'must be at least l0CompactionTriggerFiles' });
    }
    if (!(o.l0SlowdownTriggerFiles <= o.l0StopTriggerFiles)) {
      ctx.addIssue({ code: 'custom', path: ['l0StopTriggerFiles'], message: 'must be at least l0SlowdownTriggerFiles' });
    }
  });

export type EngineOptions = z.output<typeof engineOptionsSchema>;
export type EngineOptionsInput = z.input<typeof engineOptionsSchema>;

/** Validates and fills in defaults; throws InvalidOptionsError naming every bad field. */
export function parseEngineOptions(input: unknown): EngineOptions {
  const result = engineOptionsSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(options)'}: ${issue.message}`);
  throw new InvalidOptionsError(`invalid storage engine options: ${problems.join('; ')}`);
}
