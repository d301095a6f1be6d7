/**
 * Storage engine metrics (the LSM tree under the KV state machine), read at scrape time from
 * `StorageEngine.stats()`, and the capacity and free space of the data directory's file system.
 */
import type { Registry } from 'prom-client';
import type { EngineStats } from '../storage/engine.ts';
import { mirroredCounter, scrapedGauge, type ScrapeScope } from './mirrored.ts';
import { diskSpaceOf } from './disk.ts';
import type { NodeMetricsSources } from './sources.ts';

const counterReads: Record<string, { readonly help: string; readonly read: (s: EngineStats) => number }> = {
  phantomdb_storage_user_bytes_written_total: { help: 'Bytes of keys and values written to the storage engine by its users.', read: (s) => s.userBytesWritten },
  phantomdb_storage_wal_bytes_written_total: { help: 'Bytes written to the storage engine\'s own write-ahead log.', read: (s) => s.walBytesWritten },
  phantomdb_storage_flush_bytes_written_total: { help: 'Bytes written by memtable flushes.', read: (s) => s.flushBytesWritten },
  phantomdb_storage_compaction_bytes_written_total: { help: 'Bytes written by compactions.', read: (s) => s.compactionBytesWritten },
  phantomdb_storage_compaction_bytes_read_total: { help: 'Bytes read by compactions.', read: (s) => s.compactionBytesRead },
  phantomdb_storage_flushes_total: { help: 'Memtable flushes to level 0.', read: (s) => s.flushes },
  phantomdb_storage_compactions_total: { help: 'Compactions run (trivial moves included).', read: (s) => s.compactions },
  phantomdb_storage_compaction_seconds_total: { help: 'Time spent compacting.', read: (s) => s.compactionMsTotal / 1000 },
  phantomdb_storage_write_stalls_total: { help: 'Writes that had to stop until flushes or compactions caught up.', read: (s) => s.stalls },
  phantomdb_storage_write_stall_seconds_total: { help: 'Time writes spent stalled.', read: (s) => s.stallMsTotal / 1000 },
  phantomdb_storage_write_slowdowns_total: { help: 'Writes delayed a little to let compaction keep up.', read: (s) => s.slowdowns },
  phantomdb_storage_wal_syncs_total: { help: 'fsyncs of the storage engine\'s write-ahead log.', read: (s) => s.walSyncs },
  phantomdb_storage_block_cache_hits_total: { help: 'Block cache lookups that found the block.', read: (s) => s.blockCache.hits },
  phantomdb_storage_block_cache_misses_total: { help: 'Block cache lookups that read the block from disk.', read: (s) => s.blockCache.misses },
  phantomdb_storage_mvcc_versions_collected_total: { help: 'Old MVCC versions of user keys dropped by compaction (below the GC threshold, not protected by a backup).', read: (s) => s.mvccVersionsCollected },
};

const gaugeReads: Record<string, { readonly help: string; readonly read: (s: EngineStats) => number }> = {
  phantomdb_storage_write_amplification: { help: 'Bytes written to disk (WAL, flushes, compactions) per byte written by users, since the engine opened.', read: (s) => s.writeAmplification },
  phantomdb_storage_memtable_bytes: { help: 'Bytes in the active and immutable memtables.', read: (s) => s.memtableBytes },
  phantomdb_storage_immutable_memtables: { help: 'Memtables waiting to be flushed.', read: (s) => s.immutableMemtables },
  phantomdb_storage_block_cache_usage_bytes: { help: 'Bytes held by the block cache.', read: (s) => s.blockCache.usageBytes },
  phantomdb_storage_block_cache_capacity_bytes: { help: 'Capacity of the block cache.', read: (s) => s.blockCache.capacityBytes },
  phantomdb_storage_open_snapshots: { help: 'Engine snapshots held open (readers, Raft snapshots, backups).', read: (s) => s.openSnapshots },
  phantomdb_storage_wal_sync_max_seconds: { help: 'Slowest fsync of the current storage write-ahead log file.', read: (s) => s.walSyncMaxMs / 1000 },
  phantomdb_storage_read_only: { help: '1 when the engine refuses writes after an I/O error (see the node\'s log).', read: (s) => (s.state === 'read-only' ? 1 : 0) },
};

export function registerStorageMetrics(registry: Registry, sources: NodeMetricsSources, scope: ScrapeScope): void {
  const stats = scope.shared(() => sources.storage?.());
  for (const [name, { help, read }] of Object.entries(counterReads)) {
    mirroredCounter(registry, name, help, [], () => {
      const current = stats();
      return current === undefined ? [] : [{ labels: {}, total: read(current) }];
    });
  }
  for (const [name, { help, read }] of Object.entries(gaugeReads)) {
    scrapedGauge(registry, name, help, [], () => {
      const current = stats();
      return current === undefined ? [] : [{ labels: {}, total: read(current) }];
    });
  }
  scrapedGauge(registry, 'phantomdb_storage_level', 'LSM tree levels: kind="bytes" (size of the level\'s tables) and kind="files" (table count).', ['level', 'kind'], () =>
    (stats()?.levels ?? []).flatMap((level) => [
      { labels: { level: String(level.level), kind: 'bytes' }, total: level.bytes },
      { labels: { level: String(level.level), kind: 'files' }, total: level.files },
    ]));
  scrapedGauge(registry, 'phantomdb_disk_bytes', 'The data directory\'s file system: kind="capacity" and kind="available" (free to this process).', ['kind'], () => {
    const space = sources.dataDir === undefined ? undefined : diskSpaceOf(sources.dataDir);
    if (space === undefined) return [];
    return [
      { labels: { kind: 'capacity' }, total: space.capacityBytes },
      { labels: { kind: 'available' }, total: space.availableBytes },
    ];
  });
}
