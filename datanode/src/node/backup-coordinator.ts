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
 * (idempotent by backup id). What a node runs is in memory: after a restart of the coordinator,
 * asking again starts the backup afresh (its objects are overwritten; a finished backup is
 * recognised by its manifest at the destination).
 */
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import * as grpc from '@grpc/grpc-js';
import type { ExportRangeChunk__Output } from '../../proto/generated/phantomdb/admin/v1/ExportRangeChunk.ts';
import { AdminError, NotLeaderError } from '../admin/errors.ts';
import type { BackupProgressReport, BackupSpec, ExportChunk, ExportRangeSpec } from '../admin/backend.ts';
import { adminMetadataKeys, adminProto } from '../admin/proto.ts';
import { MvccEngineRangeExporter } from '../backup/engine-adapters.ts';
import { manifestKey } from '../backup/manifest.ts';
import type { ExportRequest, RangeExporter, RangeSpan } from '../backup/ports.ts';
import { systemTimers } from '../backup/ports.ts';
import { readManifest, verifyBackup } from '../backup/reader.ts';
import { S3BackupStore, VolumeBackupStore, s3StoreConfig, type BackupStore } from '../backup/store.ts';
import { writeBackup } from '../backup/writer.ts';
import { decodeTimestamp, encodeTimestamp, formatTimestamp, parseTimestamp, type HybridLogicalClock } from '../hlc/hlc.ts';
import type { StoredProtection } from '../kv/command.ts';
import { containsSpan, metaRangeId, type RangeDescriptor } from '../kv/descriptor.ts';
import { KvError, NotLeaderError as KvNotLeaderError } from '../kv/errors.ts';
import { describeTs } from '../kv/gc.ts';
import { isTombstoneVersion, userKey, userPrefix } from '../kv/keys.ts';
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
  /** Upload limit of a backup coordinated here, bytes per second (0 or absent: none). */
  readonly backupRateBytes?: number;
  /** Ranges exported and uploaded at once (default 4). */
  readonly backupConcurrency?: number;
  store(): Store | undefined;
  /** The admin (KV port) address of a node ('' when unknown). */
  kvAddressOf(id: NodeId): string;
  /** Wall-clock ms (protection expiry, manifest time). */
  nowMs(): number;
  log(line: string): void;
}

/** Ranges exported and uploaded at once, unless the host says otherwise. */
const exportConcurrencyDefault = 4;
/** A running backup's protection lapses after this long unless released (a crashed coordinator). */
export const runningProtectionMs = 6 * 3600_000;
/** A chain's protection (what the next incremental needs) lapses after this long. */
export const chainProtectionMs = 7 * 24 * 3600_000;
/** Bytes per ExportRange chunk. */
const exportChunkBytes = 1024 * 1024;
/** Attempts to export one piece of a range (leader changes, splits) before the backup fails. */
const exportAttemptsMax = 8;
/** Backups remembered (finished ones are dropped oldest first beyond this). */
const backupsRememberedMax = 64;
/** Listing the ranges is retried this often, this far apart, while a split leaves a gap. */
const spanAttemptsMax = 50;
const spanRetryMs = 100;
/** A proposal to the meta range waits at most this long. */
const metaProposalMs = 10_000;

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
export async function exportLedRange(replica: Replica, spec: ExportRangeSpec, dir: string, deadlineMs: number): Promise<readonly ExportedFile[]> {
  const desc = replica.stateMachine.descriptor();
  if (desc === undefined || !containsSpan(desc, spec.startKey, spec.endKey)) throw new KvError('PH_RANGE_MISMATCH', `range ${spec.rangeId} does not hold the whole span to export here`);
  if (replica.role().role !== 'leader') throw replica.notLeader();
  await replica.closeTimestamp(spec.at, deadlineMs);
  const gcThreshold = replica.stateMachine.engine.mvccGcThresholdTs();
  const oldestNeeded = spec.since ?? spec.at;
  if (gcThreshold !== undefined && oldestNeeded < gcThreshold) {
    throw new KvError('PH_BAD_REQUEST', `range ${spec.rangeId}: versions needed since ${describeTs(oldestNeeded)} are below the GC threshold ${describeTs(gcThreshold)} (the protection lapsed): take a full backup`);
  }
  const exporter = new MvccEngineRangeExporter(replica.stateMachine.engine, { isTombstone: isTombstoneVersion });
  return exporter.exportRange({
    span: engineSpan({ rangeId: spec.rangeId, startKey: spec.startKey, endKey: spec.endKey }),
    at: decodeTimestamp(spec.at),
    ...(spec.since === undefined ? {} : { since: decodeTimestamp(spec.since) }),
    dir,
  });
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

  constructor(private readonly host: BackupCoordinatorHost) {
    rmSync(host.scratchDir, { recursive: true, force: true });
    mkdirSync(host.scratchDir, { recursive: true });
  }

  // ------------------------------------------------------------------ the admin calls

  /** Starts the backup unless it runs (or ran) here; answers its progress. Meta leader only. */
  async backup(spec: BackupSpec): Promise<BackupProgressReport> {
    const known = this.backups.get(spec.backupId);
    if (known !== undefined && known.report.phase !== 'FAILED') return known.report;
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
    void this.run(spec, store, meta, entry)
      .catch((err: unknown) => {
        entry.report = { ...entry.report, phase: 'FAILED', message: messageOf(err) };
        this.host.log(`backup ${spec.backupId} failed: ${messageOf(err)}`);
      })
      .finally(() => closeStore(store));
    return entry.report;
  }

  /**
   * The progress of a backup this node runs or ran; elsewhere than on the meta range's leader
   * NotLeader (the client follows it to where backups start), UNKNOWN on the leader.
   */
  backupStatus(backupId: string): BackupProgressReport {
    const known = this.backups.get(backupId);
    if (known !== undefined) return known.report;
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

  private metaLeader(): Replica {
    const meta = this.host.store()?.meta();
    if (meta === undefined || !meta.serving) throw new AdminError('PH_UNAVAILABLE', 'the meta range is not serving on this node yet');
    const { role, leaderId } = meta.role();
    if (role !== 'leader') throw new NotLeaderError(leaderId, leaderId === 0 ? '' : this.host.kvAddressOf(leaderId));
    return meta;
  }

  private async run(spec: BackupSpec, store: BackupStore, meta: Replica, entry: RunningBackup): Promise<void> {
    const parent = spec.type === 'incremental' && spec.parentBackupId !== undefined ? await readManifest(store, spec.parentBackupId) : undefined;
    const at = this.host.hlc.now();
    const atTs = encodeTimestamp(at);
    if (parent !== undefined && encodeTimestamp(parseTimestamp(parent.backupTimestamp)) >= atTs) throw new AdminError('PH_BAD_REQUEST', `parent backup ${parent.backupId} is not older than now`);
    const runningId = `backup/${spec.backupId}`;
    await this.protect(meta, { id: runningId, ts: parent === undefined ? atTs : encodeTimestamp(parseTimestamp(parent.backupTimestamp)), reason: `backup ${spec.backupId} running`, expiresAtMs: this.host.nowMs() + runningProtectionMs });
    entry.report = { ...entry.report, backupTimestamp: formatTimestamp(at), message: `exporting every range as of ${formatTimestamp(at)}` };
    this.host.log(`backup ${spec.backupId}: ${spec.type} at ${formatTimestamp(at)} to ${store.description}`);
    try {
      const spans = await this.userSpansSettled();
      const scratchDir = path.join(this.host.scratchDir, `backup-${spec.backupId}`);
      const manifest = await writeBackup({
        store,
        exporter: this.clusterExporter(),
        spans,
        clusterId: this.host.clusterId,
        backupId: spec.backupId,
        backupTimestamp: at,
        ...(parent === undefined ? {} : { parent: { backupId: parent.backupId, backupTimestamp: parseTimestamp(parent.backupTimestamp) } }),
        dataNodeVersion: this.host.dataNodeVersion,
        scratchDir,
        concurrency: this.host.backupConcurrency ?? exportConcurrencyDefault,
        ...(this.host.backupRateBytes === undefined || this.host.backupRateBytes === 0 ? {} : { bandwidthBytesPerSecond: this.host.backupRateBytes }),
        timers: systemTimers,
        createdAt: new Date(this.host.nowMs()).toISOString(),
        onProgress: (progress) => {
          entry.report = { ...entry.report, rangesDone: progress.rangesDone, rangesTotal: progress.rangesTotal, bytesDone: progress.bytesDone };
        },
      });
      await rm(scratchDir, { recursive: true, force: true });
      entry.report = { ...entry.report, totalBytes: manifest.totalBytes, message: 'verifying every object' };
      await verifyBackup(store, spec.backupId, { timers: systemTimers });
      // The chain's protection first, then the running one goes: T stays protected throughout.
      await this.protect(meta, { id: `chain/${spec.backupId}`, ts: atTs, reason: `next incremental after ${spec.backupId}`, expiresAtMs: this.host.nowMs() + chainProtectionMs });
      if (parent !== undefined) await this.release(meta, `chain/${parent.backupId}`);
      entry.report = { ...entry.report, phase: 'COMPLETED', verified: true, message: `${manifest.ranges.length} ranges, ${manifest.totalBytes} bytes at ${store.description}` };
      this.host.log(`backup ${spec.backupId}: completed (${manifest.totalBytes} bytes, verified)`);
    } finally {
      await this.release(meta, runningId).catch((err: unknown) => this.host.log(`backup ${spec.backupId}: protection ${runningId} not released (${messageOf(err)}); it lapses by itself`));
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

  // ------------------------------------------------------------------ exports across the cluster

  private clusterExporter(): RangeExporter {
    return { exportRange: (request) => this.exportSpan(request) };
  }

  /** Exports a span as of the request's timestamp, range by range (the span may have split since). */
  private async exportSpan(request: ExportRequest): Promise<readonly ExportedFile[]> {
    const files: ExportedFile[] = [];
    let cursor = request.span.startKey;
    let piece = 0;
    for (;;) {
      const desc = this.host.store()?.lookup(cursor);
      if (desc === undefined) throw new AdminError('PH_UNAVAILABLE', `no range of key ${cursor.toString('hex')} is known on this node`);
      const spanEnd = request.span.endKey;
      const pieceEnd = desc.endKey.length === 0 ? spanEnd : spanEnd.length === 0 || Buffer.compare(desc.endKey, spanEnd) < 0 ? desc.endKey : spanEnd;
      const spec: ExportRangeSpec = { rangeId: desc.rangeId, startKey: cursor, endKey: pieceEnd, at: encodeTimestamp(request.at), since: request.since === undefined ? undefined : encodeTimestamp(request.since) };
      const dir = path.join(request.dir, `piece-${piece}`);
      const exported = await this.exportPiece(desc, spec, dir);
      for (const [index, file] of exported.entries()) {
        const target = path.join(request.dir, `${String(piece).padStart(4, '0')}-${String(index).padStart(6, '0')}.sst`);
        renameSync(file.path, target);
        files.push({ ...file, path: target });
      }
      await rm(dir, { recursive: true, force: true });
      piece++;
      if (pieceEnd.length === 0 || (spanEnd.length > 0 && pieceEnd.equals(spanEnd))) return files;
      cursor = pieceEnd;
    }
  }

  /** One piece within one range, from its leader (here or over ExportRange), with retries. */
  private async exportPiece(desc: RangeDescriptor, spec: ExportRangeSpec, dir: string): Promise<readonly ExportedFile[]> {
    let hint: NodeId = 0;
    let lastError: unknown;
    for (let attempt = 0; attempt < exportAttemptsMax; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      await rm(dir, { recursive: true, force: true });
      const local = this.host.store()?.replica(desc.rangeId);
      let target = hint !== 0 ? hint : (local?.role().leaderId ?? 0);
      if (target === 0) target = desc.replicas[attempt % desc.replicas.length]?.nodeId ?? 0;
      try {
        if (target === this.host.nodeId && local !== undefined) {
          try {
            return await exportLedRange(local, spec, dir, metaProposalMs);
          } catch (err) {
            throw adminErrorOf(err, (id) => this.host.kvAddressOf(id));
          }
        }
        const address = this.host.kvAddressOf(target);
        if (address === '') throw new AdminError('PH_UNAVAILABLE', `no address of node ${target}`);
        return await this.fetchExport(address, spec, dir);
      } catch (err) {
        lastError = err;
        hint = err instanceof NotLeaderError ? err.leaderId : 0;
        if (!(err instanceof AdminError && err.retriable)) throw err;
      }
    }
    throw new AdminError('PH_UNAVAILABLE', `range ${desc.rangeId}: export did not succeed in ${exportAttemptsMax} attempts: ${messageOf(lastError)}`);
  }

  /** Streams a remote leader's export into files under `dir`. */
  private async fetchExport(address: string, spec: ExportRangeSpec, dir: string): Promise<ExportedFile[]> {
    await mkdir(dir, { recursive: true });
    let stub = this.stubs.get(address);
    if (stub === undefined) {
      stub = new (adminProto().Admin)(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 8 * exportChunkBytes });
      this.stubs.set(address, stub);
    }
    const metadata = new grpc.Metadata();
    metadata.set(adminMetadataKeys.clusterId, this.host.clusterId);
    const call = stub.ExportRange({ rangeId: String(spec.rangeId), startKey: spec.startKey, endKey: spec.endKey, at: String(spec.at), since: String(spec.since ?? 0n) }, metadata);
    const files: ExportedFile[] = [];
    let out: ReturnType<typeof createWriteStream> | undefined;
    let written = 0;
    try {
      for await (const message of call as AsyncIterable<ExportRangeChunk__Output>) {
        const filePath = path.join(dir, `${String(message.fileIndex).padStart(6, '0')}.sst`);
        out ??= createWriteStream(filePath);
        if (message.data.length > 0) {
          written += message.data.length;
          if (!out.write(message.data)) await new Promise<void>((resolve) => out?.once('drain', resolve));
        }
        if (message.fileEnd) {
          out.end();
          await finished(out);
          out = undefined;
          const fileBytes = Number(message.fileBytes);
          if (written !== fileBytes) throw new AdminError('PH_UNAVAILABLE', `export of range ${spec.rangeId} from ${address}: file ${message.fileIndex} arrived with ${written} bytes, expected ${fileBytes}`);
          files.push({ path: filePath, entries: Number(message.entries), fileBytes, smallestKey: Buffer.from(message.smallestKey), largestKey: Buffer.from(message.largestKey) });
          written = 0;
        }
      }
    } catch (err) {
      out?.destroy();
      if (err instanceof AdminError) throw err;
      throw exportFailure(err, address);
    }
    if (out !== undefined) {
      out.destroy();
      throw new AdminError('PH_UNAVAILABLE', `export of range ${spec.rangeId} from ${address} ended in the middle of a file`);
    }
    return files;
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
