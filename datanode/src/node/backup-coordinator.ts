/**
 * Backups taken by the data nodes (issue 6 §2). The meta range's leader coordinates: it picks
 * one cluster timestamp T from its HLC, protects T in the meta range (so no node's GC drops what
 * a read at T needs, across restarts; the protection expires by itself if this node dies), asks
 * every range's leader to export its span as of T (in parallel, bounded), writes the files and
 * the manifest through the backup writer, re-reads every object (verify), then swaps the
 * protection for a chain protection at T (what the next incremental needs) and releases its own.
 *
 * A range leader exports after closing T in its range (Replica.closeTimestamp): everything
 * committed before is applied and every later write lands above T, so the export is exactly the
 * range as of T however writes continue. The coordinator exports a range led here directly; one
 * led elsewhere streams SSTables over the admin API (ExportRange). A span whose range split
 * since the coordinator listed it is exported piece by piece, range by range.
 *
 * Backups run in the background; the Backup call answers progress at once and again when asked
 * (idempotent by backup id). What a node runs is in memory, and what a run finished is recorded
 * at the destination (backup/progress.ts): after the coordinator died or lost the meta range's
 * leadership, asking the new meta leader again resumes the run at the same timestamp while it
 * is still protected, keeping the spans the earlier run wrote and writing only the rest (a
 * finished backup is recognised by its manifest at the destination).
 */
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { BackupRangeProgress__Output } from '../../proto/generated/phantomdb/admin/v1/BackupRangeProgress.ts';
import { destinationFields } from '../admin/client.ts';
import { AdminError, NotLeaderError } from '../admin/errors.ts';
import type { BackupProgressReport, BackupRangeSpec, BackupRangeUpdate, BackupSpec, ExportChunk, ExportRangeSpec } from '../admin/backend.ts';
import { adminMetadataKeys, adminProto } from '../admin/proto.ts';
import { MvccEngineRangeExporter } from '../backup/engine-adapters.ts';
import { BackupObjectCorruptError, BackupObjectMissingError } from '../backup/errors.ts';
import { describeExportActivity, ExportActivityMonitor } from '../backup/export-monitor.ts';
import { exportOnThread, ExportThread, exportThreadNiceDefault } from '../backup/export-thread.ts';
import { type BackupFile, type BackupManifest, type BackupRange, manifestKey } from '../backup/manifest.ts';
import type { RangeSpan } from '../backup/ports.ts';
import { systemTimers } from '../backup/ports.ts';
import { type RangeExportedFile, type RangeExportHooks, writeRangeFiles } from '../backup/range-writer.ts';
import { writeManifestOnce } from '../backup/manifest-write.ts';
import { finishedSpans, readRunRecord, remainingSpans, writeRunRecord, writeSpanRecord } from '../backup/progress.ts';
import { readManifest } from '../backup/reader.ts';
import { S3BackupStore, VolumeBackupStore, s3StoreConfig, type BackupStore } from '../backup/store.ts';
import { BandwidthLimiter, forEachBounded } from '../backup/throttle.ts';
import { decodeTimestamp, encodeTimestamp, formatTimestamp, parseTimestamp, type HlcTimestamp, type HybridLogicalClock } from '../hlc/hlc.ts';
import type { StoredProtection } from '../kv/command.ts';
import { containsSpan, metaRangeId, type RangeDescriptor } from '../kv/descriptor.ts';
import { KvError, NotLeaderError as KvNotLeaderError } from '../kv/errors.ts';
import { describeTs } from '../kv/gc.ts';
import { isTombstoneVersion, userKey, userPrefix, versionTombstoneTag } from '../kv/keys.ts';
import type { NodeId } from '../raft/types.ts';
import { readAttemptFailure } from '../rpc/client-core.ts';
import type { ExportedFile } from '../storage/engine.ts';
import type { Replica } from './replica.ts';
import type { Store } from './store.ts';

export interface BackupCoordinatorHost {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly dataNodeVersion: string;
  readonly hlc: HybridLogicalClock;
  /** Scratch space of this node's exports (emptied when the node starts). */
  readonly scratchDir: string;
  /** What this node's backup exports may write, bytes per second over all of them (0 or absent: no limit). */
  readonly backupRateBytes?: number;
  /** Range pieces this node exports and writes at once for backups (default 2); a coordinator runs this many per node. */
  readonly backupConcurrency?: number;
  /** Nice value of the thread this node's exports run on (default 10). */
  readonly backupExportNice?: number;
  store(): Store | undefined;
  /** The admin (KV port) address of a node ('' when unknown). */
  kvAddressOf(id: NodeId): string;
  /** Wall-clock ms (protection expiry, manifest time). */
  nowMs(): number;
  log(line: string): void;
}

/** Range pieces a node exports at once for backups, unless the host says otherwise. */
const exportConcurrencyDefault = 2;
/** A running backup's protection lapses after this long unless released (a crashed coordinator). */
export const runningProtectionMs = 6 * 3600_000;
/** A chain's protection (what the next incremental needs) lapses after this long. */
export const chainProtectionMs = 7 * 24 * 3600_000;
/** Bytes per ExportRange chunk. */
const exportChunkBytes = 1024 * 1024;
/**
 * Attempts to export one piece of a range (leader changes, splits) before the backup fails. With
 * the backoff capped at 1 s this is ~8.5 s of retries. It must outlast the replacement of a dead
 * leader: a quiesced range's followers count the leader down when its connection fails and the
 * piece's attempt makes the local replica campaign (store.ts campaignIfLeaderDown), an election
 * round; without that fast path (session 5: 30 attempts, ~25 s) they waited for node liveness
 * (node.ts, 5 s) plus an election, which 12 attempts still outlast. 8 attempts (~4.5 s) once gave
 * up on a range whose leader had just been killed (test/cluster/backup.test.ts, the resume test).
 */
const exportAttemptsMax = 12;
/** Backups remembered (finished ones are dropped oldest first beyond this). */
const backupsRememberedMax = 64;
/** Listing the ranges is retried this often, this far apart, while a split leaves a gap. */
const spanAttemptsMax = 50;
const spanRetryMs = 100;
/** A proposal to the meta range waits at most this long. */
const metaProposalMs = 10_000;
/** A node writing a piece reports progress this often; the coordinator gives up after this long without any. */
const progressEveryMs = 1000;
const pieceStallMs = 60_000;


interface RunningBackup {
  report: BackupProgressReport;
}

/** The engine span of every version of the user keys [start, end). */
function engineSpan(span: RangeSpan): RangeSpan {
  return { rangeId: span.rangeId, startKey: userKey(span.startKey), endKey: span.endKey.length === 0 ? Buffer.from([userPrefix + 1]) : userKey(span.endKey) };
}

function storeOf(spec: BackupSpec): BackupStore {
  const destination = spec.destination;
  if (destination.kind === 'volume') return new VolumeBackupStore(destination.path);
  return new S3BackupStore(s3StoreConfig(destination, destination.credentials));
}

/** Releases an S3 client's sockets (a volume store holds none). */
function closeStore(store: BackupStore): void {
  if (store instanceof S3BackupStore) store.destroy();
}

function messageOf(err: unknown): string {
  return err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
}

/**
 * Exports [spec.startKey, spec.endKey) of the range `replica` leads as of spec.at into `dir`.
 * Throws NotLeader/RangeMismatch (KvError) when this replica cannot serve it.
 */
export async function exportLedRange(replica: Replica, spec: ExportRangeSpec, dir: string, deadlineMs: number, hooks?: RangeExportHooks, thread?: ExportThread): Promise<readonly RangeExportedFile[]> {
  const desc = replica.stateMachine.descriptor();
  if (desc === undefined || !containsSpan(desc, spec.startKey, spec.endKey)) throw new KvError('PH_RANGE_MISMATCH', `range ${spec.rangeId} does not hold the whole span to export here`);
  if (replica.role().role !== 'leader') throw replica.notLeader();
  await replica.closeTimestamp(spec.at, deadlineMs);
  const gcThreshold = replica.stateMachine.engine.mvccGcThresholdTs();
  const oldestNeeded = spec.since ?? spec.at;
  if (gcThreshold !== undefined && oldestNeeded < gcThreshold) {
    throw new KvError('PH_BAD_REQUEST', `range ${spec.rangeId}: versions needed since ${describeTs(oldestNeeded)} are below the GC threshold ${describeTs(gcThreshold)} (the protection lapsed): take a full backup`);
  }
  const request = {
    span: engineSpan({ rangeId: spec.rangeId, startKey: spec.startKey, endKey: spec.endKey }),
    at: decodeTimestamp(spec.at),
    ...(spec.since === undefined ? {} : { since: decodeTimestamp(spec.since) }),
    dir,
  };
  // On the export thread when there is one (a backup's pieces): the walk, hashing, writes and read-back leave this event loop.
  if (thread !== undefined && hooks !== undefined) {
    return exportOnThread(thread, replica.stateMachine.engine, request, { tombstoneFirstByte: versionTombstoneTag, output: hooks.output, sync: hooks.sync, readBack: hooks.readBack, pace: hooks.pace });
  }
  const exporter = new MvccEngineRangeExporter(replica.stateMachine.engine, { isTombstone: isTombstoneVersion, ...hooks });
  return exporter.exportRange(request);
}

/** Streams exported files as chunks (the ExportRange answer). */
async function* chunksOf(files: readonly ExportedFile[], signal: AbortSignal): AsyncGenerator<ExportChunk> {
  for (const [fileIndex, file] of files.entries()) {
    const source = createReadStream(file.path, { highWaterMark: exportChunkBytes });
    try {
      for await (const data of source) {
        signal.throwIfAborted();
        yield { fileIndex, data: data as Buffer, fileEnd: false, entries: 0, fileBytes: 0, smallestKey: Buffer.alloc(0), largestKey: Buffer.alloc(0) };
      }
    } finally {
      source.destroy();
    }
    yield { fileIndex, data: Buffer.alloc(0), fileEnd: true, entries: file.entries, fileBytes: file.fileBytes, smallestKey: file.smallestKey, largestKey: file.largestKey };
  }
}

export class BackupCoordinator {
  private readonly backups = new Map<string, RunningBackup>();
  private exportSeq = 0;
  private readonly stubs = new Map<string, InstanceType<ReturnType<typeof adminProto>['Admin']>>();
  /** Bounds this node's backup exports, whoever coordinates them. */
  private readonly slots: Slots;
  /** Paces this node's backup exports (--backup-rate-bytes). */
  private readonly limiter: BandwidthLimiter | undefined;
  /** Logs what this node's exports cost its event loop and CPU, once per busy period. */
  private readonly activity: ExportActivityMonitor;
  /** Where this node's backup exports run: a lowered-priority worker thread. */
  private readonly exportThread: ExportThread;

  constructor(private readonly host: BackupCoordinatorHost) {
    this.activity = new ExportActivityMonitor((summary) => host.log(describeExportActivity(summary)));
    this.exportThread = new ExportThread({ nice: host.backupExportNice ?? exportThreadNiceDefault, log: (line) => host.log(line) });
    rmSync(host.scratchDir, { recursive: true, force: true });
    mkdirSync(host.scratchDir, { recursive: true });
    this.slots = new Slots(host.backupConcurrency ?? exportConcurrencyDefault);
    this.limiter = host.backupRateBytes === undefined || host.backupRateBytes === 0 ? undefined : new BandwidthLimiter(host.backupRateBytes, systemTimers);
  }

  // ------------------------------------------------------------------ the admin calls

  /** Starts the backup unless it runs (or ran) here; answers its progress. Meta leader only. */
  async backup(spec: BackupSpec): Promise<BackupProgressReport> {
    const known = this.backups.get(spec.backupId);
    if (known !== undefined && (known.report.phase === 'COMPLETED' || (known.report.phase === 'RUNNING' && this.leadsMeta()))) return known.report;
    const meta = this.metaLeader();
    const store = storeOf(spec);
    let finished: boolean;
    try {
      finished = (await store.head(manifestKey(spec.backupId))) !== undefined;
    } catch (err) {
      closeStore(store);
      throw err;
    }
    if (finished) {
      let manifest;
      try {
        manifest = await readManifest(store, spec.backupId);
      } finally {
        closeStore(store);
      }
      const rangesTotal = manifest.ranges.length;
      const report: BackupProgressReport = { backupId: spec.backupId, phase: 'COMPLETED', backupTimestamp: manifest.backupTimestamp, rangesDone: rangesTotal, rangesTotal, bytesDone: manifest.totalBytes, totalBytes: manifest.totalBytes, verified: true, message: `finished earlier (manifest at ${store.description})` };
      // Remembered, so BackupStatus answers it too (after a restart of the node that took it).
      this.remember(spec.backupId, { report });
      return report;
    }
    const entry: RunningBackup = {
      report: { backupId: spec.backupId, phase: 'RUNNING', backupTimestamp: '', rangesDone: 0, rangesTotal: 0, bytesDone: 0, totalBytes: 0, verified: false, message: 'starting' },
    };
    this.remember(spec.backupId, entry);
    // A coordinator that loses the meta range's leadership keeps going (leadership may come
    // back: elections on a loaded machine); it cannot write the manifest unless it leads the meta
    // range then (finishManifest), and a new leader asked for the same id runs it afresh.
    const abort = new AbortController();
    void this.run(spec, store, meta, entry, abort.signal)
      .catch((err: unknown) => {
        if (lostMetaLeadership(err) || !this.leadsMeta()) {
          // Not the backup's failure: this node stopped coordinating. Forgotten, so that asking
          // again (UNKNOWN here, or on the new leader) runs it afresh, as after a crash.
          if (this.backups.get(spec.backupId) === entry) this.backups.delete(spec.backupId);
          this.host.log(`backup ${spec.backupId}: stopped, this node no longer leads the meta range (${messageOf(err)}); asking the meta leader starts it again`);
          return;
        }
        entry.report = { ...entry.report, phase: 'FAILED', message: messageOf(err) };
        this.host.log(`backup ${spec.backupId} failed: ${messageOf(err)}`);
      })
      .finally(() => {
        abort.abort(new Error('backup finished'));
        closeStore(store);
      });
    return entry.report;
  }

  /**
   * The progress of a backup this node runs or ran; elsewhere than on the meta range's leader
   * NotLeader (the client follows it to where backups start), UNKNOWN on the leader.
   */
  backupStatus(backupId: string): BackupProgressReport {
    const known = this.backups.get(backupId);
    // A finished backup is a fact anywhere; a running or failed one is answered by the meta
    // range's leader only (a deposed coordinator's run may be running again on the new leader).
    if (known !== undefined && (known.report.phase === 'COMPLETED' || this.leadsMeta())) return known.report;
    this.metaLeader();
    return { backupId, phase: 'UNKNOWN', backupTimestamp: '', rangesDone: 0, rangesTotal: 0, bytesDone: 0, totalBytes: 0, verified: false, message: 'no backup by this id runs on this node' };
  }

  /** ExportRange: exports a piece of a range led here and streams it. */
  async *exportRange(spec: ExportRangeSpec, signal: AbortSignal): AsyncGenerator<ExportChunk> {
    const replica = this.host.store()?.replica(spec.rangeId);
    if (replica === undefined) throw new KvError('PH_RANGE_MISMATCH', `range ${spec.rangeId} has no replica on node ${this.host.nodeId}`);
    const dir = path.join(this.host.scratchDir, `serve-${++this.exportSeq}`);
    try {
      let files: readonly ExportedFile[];
      try {
        files = await exportLedRange(replica, spec, dir, metaProposalMs);
      } catch (err) {
        throw adminErrorOf(err, (id) => this.host.kvAddressOf(id));
      }
      yield* chunksOf(files, signal);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  close(): void {
    void this.exportThread.close();
    for (const stub of this.stubs.values()) stub.close();
    this.stubs.clear();
  }

  // ------------------------------------------------------------------ one backup

  private remember(backupId: string, entry: RunningBackup): void {
    this.backups.delete(backupId);
    this.backups.set(backupId, entry);
    for (const [id, other] of this.backups) {
      if (this.backups.size <= backupsRememberedMax) break;
      if (other.report.phase !== 'RUNNING') this.backups.delete(id);
    }
  }

  private leadsMeta(): boolean {
    const meta = this.host.store()?.meta();
    return meta !== undefined && meta.serving && meta.role().role === 'leader';
  }

  private metaLeader(): Replica {
    const meta = this.host.store()?.meta();
    if (meta === undefined || !meta.serving) throw new AdminError('PH_UNAVAILABLE', 'the meta range is not serving on this node yet');
    const { role, leaderId } = meta.role();
    if (role !== 'leader') throw new NotLeaderError(leaderId, leaderId === 0 ? '' : this.host.kvAddressOf(leaderId));
    return meta;
  }

  private async run(spec: BackupSpec, store: BackupStore, meta: Replica, entry: RunningBackup, signal: AbortSignal): Promise<void> {
    const parent = spec.type === 'incremental' && spec.parentBackupId !== undefined ? await readManifest(store, spec.parentBackupId) : undefined;
    const resumed = await this.resumePoint(spec, store, parent);
    const at = resumed?.at ?? this.host.hlc.now();
    const atTs = encodeTimestamp(at);
    if (parent !== undefined && encodeTimestamp(parseTimestamp(parent.backupTimestamp)) >= atTs) throw new AdminError('PH_BAD_REQUEST', `parent backup ${parent.backupId} is not older than now`);
    const runningId = `backup/${spec.backupId}`;
    const running: StoredProtection = { id: runningId, ts: parent === undefined ? atTs : encodeTimestamp(parseTimestamp(parent.backupTimestamp)), reason: `backup ${spec.backupId} running`, expiresAtMs: this.host.nowMs() + runningProtectionMs };
    await this.protect(meta, running);
    const kept = resumed?.kept ?? [];
    if (resumed === undefined) {
      // What a coordinator taking over this backup resumes from (after the protection: it resumes only while T is protected).
      await writeRunRecord(store, spec.backupId, { backupTimestamp: formatTimestamp(at), type: spec.type, parentBackupId: spec.parentBackupId ?? '' }).catch((err: unknown) =>
        this.host.log(`backup ${spec.backupId}: progress not recorded at the destination (${messageOf(err)}); a coordinator taking over starts afresh`),
      );
    }
    entry.report = { ...entry.report, backupTimestamp: formatTimestamp(at), message: `exporting every range as of ${formatTimestamp(at)}${resumed === undefined ? '' : ` (resumed: ${kept.length} spans written by an earlier run kept)`}` };
    this.host.log(`backup ${spec.backupId}: ${spec.type} at ${formatTimestamp(at)} to ${store.description}${resumed === undefined ? '' : `, resuming an earlier run (${kept.length} spans kept)`}`);
    // Object names are unique per run and attempt: a retried piece, or a run restarted by a new
    // coordinator, never overwrites a file another writer may still be finishing.
    const runTag = `n${this.host.nodeId}-${this.host.nowMs().toString(36)}`;
    const manifestWritten = { value: false };
    try {
      const spans = remainingSpans(await this.userSpansSettled(), kept);
      const written = await this.writeRanges(store, spec, spans, runTag, { at: atTs, since: parent === undefined ? undefined : encodeTimestamp(parseTimestamp(parent.backupTimestamp)) }, kept, entry, signal);
      // One set of files per span: the spans kept from earlier runs and this run's cover the keyspace without overlaps.
      const ranges = [...kept, ...written].sort((a, b) => Buffer.compare(Buffer.from(a.startKey, 'hex'), Buffer.from(b.startKey, 'hex')));
      const manifest: BackupManifest = {
        formatVersion: 1,
        clusterId: this.host.clusterId,
        backupId: spec.backupId,
        type: parent === undefined ? 'full' : 'incremental',
        backupTimestamp: formatTimestamp(at),
        ...(parent === undefined ? {} : { parent: { backupId: parent.backupId, backupTimestamp: parent.backupTimestamp } }),
        dataNodeVersion: this.host.dataNodeVersion,
        createdAt: new Date(this.host.nowMs()).toISOString(),
        ranges,
        totalBytes: ranges.reduce((sum, range) => sum + range.files.reduce((s, file) => s + file.sizeBytes, 0), 0),
      };
      entry.report = { ...entry.report, totalBytes: manifest.totalBytes, message: 'checking every object and writing the manifest' };
      await this.finishManifest(store, manifest, meta, running, signal, manifestWritten);
      entry.report = { ...entry.report, message: 'protecting the chain' };
      // The chain's protection first, then the running one goes: T stays protected throughout.
      await this.protect(meta, { id: `chain/${spec.backupId}`, ts: atTs, reason: `next incremental after ${spec.backupId}`, expiresAtMs: this.host.nowMs() + chainProtectionMs });
      if (parent !== undefined) await this.release(meta, `chain/${parent.backupId}`);
      entry.report = { ...entry.report, phase: 'COMPLETED', verified: true, message: `${manifest.ranges.length} ranges, ${manifest.totalBytes} bytes at ${store.description}` };
      this.host.log(`backup ${spec.backupId}: completed (${manifest.totalBytes} bytes, verified)`);
    } catch (err) {
      // This run's files go (writers still busy remove their own when their streams are cancelled),
      // unless this node only stopped coordinating: a coordinator taking over resumes from them
      // (the run that writes the manifest deletes what it does not name).
      if (err instanceof AnotherRunFinishedError) await this.removeRun(store, spec.backupId, runTag, true);
      else if (!manifestWritten.value && !lostMetaLeadership(err) && this.leadsMeta()) await this.removeRun(store, spec.backupId, runTag);
      throw err;
    } finally {
      await this.release(meta, runningId).catch((err: unknown) => this.host.log(`backup ${spec.backupId}: protection ${runningId} not released (${messageOf(err)}); it lapses by itself`));
    }
  }

  /**
   * Where a run of `spec` may resume: the timestamp an earlier run of the same backup exports at
   * (its run record at the destination), and the spans it (or others at that timestamp) wrote
   * completely. Only while that timestamp is still protected in the meta range by the backup's
   * running protection (an earlier coordinator that died or was deposed did not release it);
   * otherwise GC may have dropped versions the rest needs, and the run starts afresh.
   */
  private async resumePoint(spec: BackupSpec, store: BackupStore, parent: BackupManifest | undefined): Promise<{ at: HlcTimestamp; kept: BackupRange[] } | undefined> {
    const record = await readRunRecord(store, spec.backupId);
    if (record === undefined || record.type !== spec.type || record.parentBackupId !== (spec.parentBackupId ?? '')) return undefined;
    let at: HlcTimestamp;
    try {
      at = parseTimestamp(record.backupTimestamp);
    } catch {
      return undefined;
    }
    const needed = parent === undefined ? encodeTimestamp(at) : encodeTimestamp(parseTimestamp(parent.backupTimestamp));
    if (parent !== undefined && needed >= encodeTimestamp(at)) return undefined;
    const protection = this.host
      .store()
      ?.metaStateMachine()
      ?.protectedTimestamps()
      .find((candidate) => candidate.id === `backup/${spec.backupId}`);
    if (protection === undefined || protection.expiresAtMs <= this.host.nowMs() || protection.ts > needed) {
      this.host.log(`backup ${spec.backupId}: an earlier run at ${record.backupTimestamp} is not resumed (its timestamp is no longer protected); starting afresh`);
      return undefined;
    }
    return { at, kept: await finishedSpans(store, spec.backupId, record.backupTimestamp) };
  }

  /**
   * Every span written to the destination by the nodes that lead its ranges, at most
   * `backupConcurrency` per node at once (the nodes bound it too); answers the spans' manifest
   * entries. Each span written is recorded at the destination (progress.ts) for a coordinator
   * that takes over; `kept` are spans earlier runs wrote (counted in the progress).
   */
  private async writeRanges(
    store: BackupStore,
    spec: BackupSpec,
    spans: readonly RangeSpan[],
    runTag: string,
    times: { at: bigint; since: bigint | undefined },
    kept: readonly BackupRange[],
    entry: RunningBackup,
    signal: AbortSignal,
  ): Promise<BackupRange[]> {
    const ranges = new Array<BackupRange>(spans.length);
    const nodes = new Set<NodeId>();
    for (const desc of this.host.store()?.knownRanges().values() ?? []) for (const replica of desc.replicas) nodes.add(replica.nodeId);
    const perNode = this.host.backupConcurrency ?? exportConcurrencyDefault;
    let rangesDone = kept.length;
    let bytesFinished = kept.reduce((sum, range) => sum + range.files.reduce((s, file) => s + file.sizeBytes, 0), 0);
    const backupTimestamp = formatTimestamp(decodeTimestamp(times.at));
    const bytesInFlight = new Map<number, number>();
    let pieceSeq = 0;
    const report = (): void => {
      let inFlight = 0;
      for (const bytes of bytesInFlight.values()) inFlight += bytes;
      entry.report = { ...entry.report, rangesDone, rangesTotal: spans.length + kept.length, bytesDone: bytesFinished + inFlight };
    };
    report();
    await forEachBounded(spans, Math.max(1, perNode * Math.max(1, nodes.size)), async (span, index) => {
      const files: BackupFile[] = [];
      await this.forEachPiece(span, async (desc, pieceSpec, piece) => {
        const id = ++pieceSeq;
        const written = await this.writePiece(desc, { ...pieceSpec, at: times.at, since: times.since, backupId: spec.backupId, destination: spec.destination, objectKeyPrefix: '' }, `${spec.backupId}/ranges/${span.rangeId}/${runTag}-s${index}-p${piece}`, signal, (bytes) => {
          bytesInFlight.set(id, bytes);
          report();
        });
        bytesInFlight.delete(id);
        bytesFinished += written.reduce((sum, file) => sum + file.sizeBytes, 0);
        files.push(...written);
        report();
      });
      const range: BackupRange = { rangeId: span.rangeId, startKey: span.startKey.toString('hex'), endKey: span.endKey.toString('hex'), files };
      ranges[index] = range;
      await writeSpanRecord(store, spec.backupId, runTag, index, backupTimestamp, range).catch((err: unknown) =>
        this.host.log(`backup ${spec.backupId}: progress of range ${span.rangeId} not recorded (${messageOf(err)}); a coordinator taking over writes it again`),
      );
      rangesDone++;
      report();
    });
    return ranges;
  }

  /**
   * Removes the objects of one run of a backup that failed before its manifest (best effort);
   * with `exceptNamed`, those the manifest another run wrote does not name (it may have kept some).
   */
  private async removeRun(store: BackupStore, backupId: string, runTag: string, exceptNamed = false): Promise<void> {
    try {
      const named = new Set<string>();
      if (exceptNamed) for (const range of (await readManifest(store, backupId)).ranges) for (const file of range.files) named.add(file.objectKey);
      const mine = (await store.list(`${backupId}/`)).filter((key) => key.includes(`/${runTag}-`) && !named.has(key));
      await store.delete(mine);
    } catch (err) {
      this.host.log(`backup ${backupId}: objects of the failed run ${runTag} not removed (${messageOf(err)}); the next run removes them`);
    }
  }

  /**
   * Checks that every object is in place with its size (each writer read its own back and
   * checked its SHA-256), then writes the manifest, unless this node no longer leads the meta
   * range (the refreshed protection is proposed through it right before: a deposed coordinator,
   * whose backup a new leader may be running again, never writes one) or another run of the
   * same backup wrote one first (a volume manifest is created exclusively). Then, and only
   * then, objects of other runs and attempts, which the manifest does not name, are removed.
   */
  private async finishManifest(store: BackupStore, manifest: BackupManifest, meta: Replica, running: StoredProtection, signal: AbortSignal, written: { value: boolean }): Promise<void> {
    const named = new Set<string>();
    for (const range of manifest.ranges) {
      for (const file of range.files) {
        signal.throwIfAborted();
        const head = await store.head(file.objectKey);
        if (head === undefined) throw new BackupObjectMissingError(file.objectKey);
        if (head.sizeBytes !== file.sizeBytes) throw new BackupObjectCorruptError(file.objectKey, `size is ${head.sizeBytes} bytes, its writer recorded ${file.sizeBytes}`);
        named.add(file.objectKey);
      }
    }
    signal.throwIfAborted();
    await this.protect(meta, { ...running, expiresAtMs: this.host.nowMs() + runningProtectionMs });
    const key = manifestKey(manifest.backupId);
    // Exclusive, and read back (backup/manifest-write.ts): only the run whose manifest is there removes other runs' files.
    if ((await writeManifestOnce(store, manifest)) === 'another-run') throw new AnotherRunFinishedError(manifest.backupId, store.description);
    written.value = true;
    const orphans = (await store.list(`${manifest.backupId}/`)).filter((objectKey) => !named.has(objectKey) && objectKey !== key);
    if (orphans.length > 0) {
      await store.delete(orphans).catch((err: unknown) => this.host.log(`backup ${manifest.backupId}: objects of other attempts not removed (${messageOf(err)})`));
      this.host.log(`backup ${manifest.backupId}: removed ${orphans.length} objects of other attempts`);
    }
  }

  private async protect(meta: Replica, protection: StoredProtection): Promise<void> {
    await meta.propose({ op: 'protect-ts', protection }, metaProposalMs);
  }

  private async release(meta: Replica, id: string): Promise<void> {
    await meta.propose({ op: 'release-ts', id }, metaProposalMs);
  }

  /**
   * The user ranges in key order, waiting out the moment after a split when the right range is
   * known nowhere on this node yet (its replica is being created, the meta copy not recorded).
   */
  private async userSpansSettled(): Promise<RangeSpan[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.userSpans();
      } catch (err) {
        if (!(err instanceof AdminError && err.code === 'PH_UNAVAILABLE') || attempt >= spanAttemptsMax) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, spanRetryMs));
    }
  }

  /** The user ranges the meta range records, in key order (together they cover the keyspace). */
  private userSpans(): RangeSpan[] {
    const store = this.host.store();
    const descriptors = [...(store?.knownRanges().values() ?? [])].filter((desc) => desc.rangeId !== metaRangeId);
    // Of overlapping records (a split not yet recorded everywhere), the newest generation wins.
    const sorted = descriptors.sort((a, b) => Buffer.compare(a.startKey, b.startKey) || b.generation - a.generation);
    const spans: RangeSpan[] = [];
    let covered: Buffer | undefined = Buffer.alloc(0);
    for (const desc of sorted) {
      if (covered === undefined || Buffer.compare(desc.startKey, covered) < 0) continue;
      spans.push({ rangeId: desc.rangeId, startKey: desc.startKey, endKey: desc.endKey });
      covered = desc.endKey.length === 0 ? undefined : desc.endKey;
    }
    if (covered !== undefined) throw new AdminError('PH_UNAVAILABLE', `the known ranges do not cover the keyspace past ${covered.toString('hex')}; retry once the meta range has every descriptor`);
    return spans;
  }

  // ------------------------------------------------------------------ range writes across the cluster

  /** Calls `write` for each piece of `span` within one range (the span may have split since it was listed). */
  private async forEachPiece(span: RangeSpan, write: (desc: RangeDescriptor, spec: { rangeId: number; startKey: Buffer; endKey: Buffer }, piece: number) => Promise<void>): Promise<void> {
    let cursor = span.startKey;
    for (let piece = 0; ; piece++) {
      const desc = this.host.store()?.lookup(cursor);
      if (desc === undefined) throw new AdminError('PH_UNAVAILABLE', `no range of key ${cursor.toString('hex')} is known on this node`);
      const spanEnd = span.endKey;
      const pieceEnd = desc.endKey.length === 0 ? spanEnd : spanEnd.length === 0 || Buffer.compare(desc.endKey, spanEnd) < 0 ? desc.endKey : spanEnd;
      await write(desc, { rangeId: desc.rangeId, startKey: cursor, endKey: pieceEnd }, piece);
      if (pieceEnd.length === 0 || (spanEnd.length > 0 && pieceEnd.equals(spanEnd))) return;
      cursor = pieceEnd;
    }
  }

  /** One piece within one range, written by its leader (here or over BackupRange), with retries. */
  private async writePiece(desc: RangeDescriptor, spec: BackupRangeSpec, keyPrefix: string, signal: AbortSignal, onBytes: (bytes: number) => void): Promise<BackupFile[]> {
    let hint: NodeId = 0;
    let lastError: unknown;
    for (let attempt = 0; attempt < exportAttemptsMax; attempt++) {
      signal.throwIfAborted();
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      const store = this.host.store();
      const local = store?.replica(desc.rangeId);
      // A local replica following a leader whose connection failed campaigns now; and no
      // attempt goes to a node counted down while another replica is left.
      if (local !== undefined) store?.campaignIfLeaderDown(local);
      const down = (id: NodeId): boolean => store?.peerDown(id) === true;
      let target = hint !== 0 && !down(hint) ? hint : (local?.role().leaderId ?? 0);
      if (target === 0 || down(target)) {
        const up = desc.replicas.map((r) => r.nodeId).filter((id) => !down(id));
        const candidates = up.length > 0 ? up : desc.replicas.map((r) => r.nodeId);
        target = candidates[attempt % candidates.length] ?? 0;
      }
      const attemptSpec: BackupRangeSpec = { ...spec, objectKeyPrefix: `${keyPrefix}-a${attempt}-` };
      try {
        if (target === this.host.nodeId && local !== undefined) {
          try {
            return await this.writeLedPiece(local, attemptSpec, signal, onBytes);
          } catch (err) {
            throw adminErrorOf(err, (id) => this.host.kvAddressOf(id));
          }
        }
        const address = this.host.kvAddressOf(target);
        if (address === '') throw new AdminError('PH_UNAVAILABLE', `no address of node ${target}`);
        return await this.remotePiece(address, attemptSpec, signal, onBytes);
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        lastError = err;
        hint = err instanceof NotLeaderError ? err.leaderId : 0;
        if (!(err instanceof AdminError && err.retriable)) throw err;
        this.host.log(`backup ${spec.backupId}: range ${spec.rangeId} attempt ${attempt} on node ${target} failed (${messageOf(err)}); retrying`);
      }
    }
    throw new AdminError('PH_UNAVAILABLE', `range ${desc.rangeId}: writing its backup files did not succeed in ${exportAttemptsMax} attempts: ${messageOf(lastError)}`);
  }

  /** A piece written by a remote leader: follows its progress stream until it answers the files. */
  private async remotePiece(address: string, spec: BackupRangeSpec, signal: AbortSignal, onBytes: (bytes: number) => void): Promise<BackupFile[]> {
    let stub = this.stubs.get(address);
    if (stub === undefined) {
      stub = new (adminProto().Admin)(address, grpc.credentials.createInsecure());
      this.stubs.set(address, stub);
    }
    const metadata = new grpc.Metadata();
    metadata.set(adminMetadataKeys.clusterId, this.host.clusterId);
    const call = stub.BackupRange(
      {
        rangeId: String(spec.rangeId),
        startKey: spec.startKey,
        endKey: spec.endKey,
        at: String(spec.at),
        since: String(spec.since ?? 0n),
        backupId: spec.backupId,
        objectKeyPrefix: spec.objectKeyPrefix,
        ...destinationFields(spec.destination),
      },
      metadata,
    );
    // A writer that stops answering (a stopped process) is given up on: it sends progress at least every second.
    let stalled: NodeJS.Timeout | undefined;
    const cancel = (): void => call.cancel();
    const armStall = (): void => {
      clearTimeout(stalled);
      stalled = setTimeout(cancel, pieceStallMs);
    };
    signal.addEventListener('abort', cancel);
    armStall();
    try {
      for await (const message of call as AsyncIterable<BackupRangeProgress__Output>) {
        armStall();
        onBytes(Number(message.bytesDone));
        if (message.done) {
          return message.files.map((file) => ({ objectKey: file.objectKey, sizeBytes: Number(file.sizeBytes), sha256: file.sha256, entries: Number(file.entries), smallestKey: Buffer.from(file.smallestKey).toString('hex'), largestKey: Buffer.from(file.largestKey).toString('hex') }));
        }
      }
      throw new AdminError('PH_UNAVAILABLE', `range ${spec.rangeId}: the backup stream from ${address} ended without its files`);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof AdminError) throw err;
      throw exportFailure(err, address);
    } finally {
      clearTimeout(stalled);
      signal.removeEventListener('abort', cancel);
    }
  }

  // ------------------------------------------------------------------ range writes served here

  /** Writes a piece of a range led here to the destination (bounded per node, paced by --backup-rate-bytes). */
  private async writeLedPiece(replica: Replica, spec: BackupRangeSpec, signal: AbortSignal, onBytes: (bytes: number) => void): Promise<BackupFile[]> {
    await this.slots.acquire(signal);
    const store = storeOf({ backupId: spec.backupId, type: 'full', destination: spec.destination });
    this.activity.begin();
    try {
      return await writeRangeFiles({
        store,
        exportInto: (dir, hooks) => exportLedRange(replica, spec, dir, metaProposalMs, hooks, this.exportThread),
        objectKeyPrefix: spec.objectKeyPrefix,
        scratchDir: path.join(this.host.scratchDir, `range-${++this.exportSeq}`),
        ...(this.limiter === undefined ? {} : { limiter: this.limiter }),
        signal,
        onBytes,
      });
    } finally {
      this.activity.end();
      closeStore(store);
      this.slots.release();
    }
  }

  /** BackupRange: writes a piece of a range led here, streaming progress about every second, then its files. */
  async *backupRange(spec: BackupRangeSpec, signal: AbortSignal): AsyncGenerator<BackupRangeUpdate> {
    const replica = this.host.store()?.replica(spec.rangeId);
    if (replica === undefined) throw new AdminError('PH_UNAVAILABLE', `range ${spec.rangeId} has no replica on node ${this.host.nodeId}`);
    let bytes = 0;
    const writing = this.writeLedPiece(replica, spec, signal, (written) => {
      bytes = written;
    }).catch((err: unknown) => {
      throw adminErrorOf(err, (id) => this.host.kvAddressOf(id));
    });
    let outcome: { files: BackupFile[] } | undefined;
    void writing.then(
      (files) => {
        outcome = { files };
      },
      () => undefined,
    );
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, progressEveryMs);
      });
      try {
        await Promise.race([writing, tick]);
      } finally {
        clearTimeout(timer);
      }
      if (outcome !== undefined) {
        const files = outcome.files;
        yield { bytesDone: files.reduce((sum, file) => sum + file.sizeBytes, 0), done: true, files: files.map((file) => ({ ...file, smallestKey: Buffer.from(file.smallestKey, 'hex'), largestKey: Buffer.from(file.largestKey, 'hex') })) };
        return;
      }
      yield { bytesDone: bytes, done: false, files: [] };
    }
  }
}

/** A bound on the exports a node runs at once; waiters give up when their signal aborts. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(count: number) {
    this.free = count;
  }
  async acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason as Error);
      };
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

/** Whether a run failed because this node stopped leading the meta range (a proposal refused, or another run finished first). */
function lostMetaLeadership(err: unknown): boolean {
  return (err instanceof KvError && (err.code === 'PH_NOT_LEADER' || err.code === 'PH_PROPOSAL_DROPPED')) || err instanceof AnotherRunFinishedError;
}

/** Another run of the same backup (on a newer meta leader) wrote its manifest first. */
class AnotherRunFinishedError extends AdminError {
  constructor(backupId: string, where: string) {
    super('PH_UNAVAILABLE', `another run of backup ${backupId} finished first (its manifest is at ${where}); ask again for its result`);
  }
}

/** A replica's KV error as the admin API's (so ExportRange answers a code the caller can act on). */
function adminErrorOf(err: unknown, addressOf: (id: NodeId) => string): unknown {
  if (!(err instanceof KvError)) return err;
  if (err instanceof KvNotLeaderError) return new NotLeaderError(err.leaderId, err.leaderId === 0 ? '' : addressOf(err.leaderId));
  switch (err.code) {
    case 'PH_BAD_REQUEST':
    case 'PH_TOO_LARGE':
      return new AdminError('PH_BAD_REQUEST', err.message);
    case 'PH_DEADLINE_EXCEEDED':
    case 'PH_OUTCOME_UNKNOWN':
      return new AdminError('PH_DEADLINE_EXCEEDED', err.message);
    case 'PH_FEATURE_NOT_FINALIZED':
      return new AdminError('PH_FEATURE_NOT_FINALIZED', err.message);
    default:
      return new AdminError('PH_UNAVAILABLE', err.message);
  }
}

/** The error of a failed ExportRange stream, as the admin codes say (NotLeader with its hint). */
function exportFailure(err: unknown, address: string): AdminError {
  const failure = readAttemptFailure(err, adminMetadataKeys);
  if (failure.phantomCode === 'PH_NOT_LEADER') return new NotLeaderError(Number.isSafeInteger(failure.leaderId) ? failure.leaderId : 0, failure.leaderAddress);
  if (failure.phantomCode === 'PH_BAD_REQUEST') return new AdminError('PH_BAD_REQUEST', `export from ${address}: ${failure.details}`);
  return new AdminError('PH_UNAVAILABLE', `export from ${address}: ${failure.details}`);
}
