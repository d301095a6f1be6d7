/**
 * Installing a received snapshot of one range, atomically across crashes (one staging directory
 * per range: `<dataDir>/snapshot-install/<rangeId>`). Replacing the replicated state is
 * two engine steps (a synced range delete, then an SSTable ingest); a crash between them would
 * leave the node with neither the old nor the new state. So the install is journaled:
 *
 *   1. the received files are moved into a durable staging directory (`<dataDir>/snapshot-install/files`);
 *   2. an install marker (snapshot index/term, the state's applied index, the file list) is
 *      written durably (write, fsync, rename, fsync the directory);
 *   3. the range's replicated keys are deleted (its range-local keys and the user keys of the
 *      snapshot's span and of the span the replica had), then the staged files are ingested (the
 *      engine links or copies them, so they stay staged); applied index and descriptor come with them;
 *   4. the marker is removed durably, then the staged files.
 *
 * At start, `recover()` finds a marker left by a crash in steps 3–4 and redoes step 3 from the
 * staged files; delete-then-ingest of the same files yields the same state however often it
 * runs. Without a marker, leftover staged files are discarded (the old state was never touched).
 *
 * Crash points for tests: PHANTOMDB_TEST_CRASH_AT=install:after-marker | install:after-delete |
 * install:after-ingest makes the process SIGKILL itself right after that step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { assert } from '../assert.ts';
import type { KvStateMachine } from '../kv/state-machine.ts';

const markerFile = 'INSTALL';
const filesDir = 'files';

const markerSchema = z
  .object({
    version: z.literal(1),
    snapshotIndex: z.number().int().min(0),
    snapshotTerm: z.number().int().min(0),
    appliedIndex: z.number().int().min(0),
    /** User spans (hex) to clear before the ingest: the snapshot's and the one the replica had. */
    spans: z.array(z.object({ start: z.string().regex(/^([0-9a-f]{2})*$/), end: z.string().regex(/^([0-9a-f]{2})*$/) })),
    files: z.array(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/)),
  })
  .strict();

export type InstallMarker = z.infer<typeof markerSchema>;

/** The step names a test may crash the process after (PHANTOMDB_TEST_CRASH_AT). */
export type InstallCrashPoint = 'install:after-marker' | 'install:after-delete' | 'install:after-ingest';

/**
 * Test-only fault injection: when PHANTOMDB_TEST_CRASH_AT names `point`, the process kills
 * itself with SIGKILL (no cleanup, no flush), as a power cut would.
 */
export function crashPoint(point: InstallCrashPoint, log: (line: string) => void): void {
  if (process.env.PHANTOMDB_TEST_CRASH_AT !== point) return;
  log(`test crash point ${point}: SIGKILL`);
  process.kill(process.pid, 'SIGKILL');
  // The signal is delivered before the process runs on; block in case it is not at once.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}

/** fsyncs a file or directory off the event loop: the node serves its clients meanwhile. */
async function fsyncPath(target: string): Promise<void> {
  const handle = await fs.promises.open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class SnapshotInstaller {
  private readonly filesPath: string;
  private readonly markerPath: string;

  /** `dir` is the staging directory (created when missing); it must be on the data directory's file system. */
  constructor(
    private readonly dir: string,
    private readonly stateMachine: KvStateMachine,
    private readonly log: (line: string) => void,
  ) {
    this.filesPath = path.join(dir, filesDir);
    this.markerPath = path.join(dir, markerFile);
  }

  /** Whether an install was interrupted (a marker is present). */
  pending(): InstallMarker | undefined {
    if (!fs.existsSync(this.markerPath)) return undefined;
    const parsed = markerSchema.safeParse(JSON.parse(fs.readFileSync(this.markerPath, 'utf8')));
    // The marker is written atomically (rename), so a malformed one is a broken invariant.
    assert(parsed.success, `snapshot install marker ${this.markerPath} is well-formed`);
    return parsed.data;
  }

  /**
   * Finishes an interrupted install (redoing it from the staged files), or discards staged
   * files that never got a marker. Call at start, before the replica reads the applied index.
   */
  async recover(): Promise<InstallMarker | undefined> {
    const marker = this.pending();
    if (marker === undefined) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      return undefined;
    }
    this.log(`redoing the snapshot install interrupted by a crash: raft index ${marker.snapshotIndex}, state at ${marker.appliedIndex}, ${marker.files.length} file(s)`);
    await this.replace(marker);
    return marker;
  }

  /**
   * Installs the received snapshot `files` (moved from where they are; they must be durable
   * already) holding the replicated state at `appliedIndex`, for the Raft snapshot at
   * `snapshotIndex`/`snapshotTerm`. Resolves once the new state is durable and the journal is gone.
   */
  async install(
    files: readonly string[],
    snapshot: { readonly snapshotIndex: number; readonly snapshotTerm: number; readonly appliedIndex: number; readonly spans: readonly { readonly startKey: Buffer; readonly endKey: Buffer }[] },
  ): Promise<void> {
    assert(this.pending() === undefined, 'no install is pending while another starts');
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.mkdirSync(this.filesPath, { recursive: true });
    const names: string[] = [];
    for (const file of files) {
      const name = path.basename(file);
      fs.renameSync(file, path.join(this.filesPath, name));
      names.push(name);
    }
    await fsyncPath(this.filesPath);
    await fsyncPath(this.dir);
    const marker: InstallMarker = {
      version: 1,
      snapshotIndex: snapshot.snapshotIndex,
      snapshotTerm: snapshot.snapshotTerm,
      appliedIndex: snapshot.appliedIndex,
      spans: snapshot.spans.map((span) => ({ start: span.startKey.toString('hex'), end: span.endKey.toString('hex') })),
      files: names,
    };
    const tmp = `${this.markerPath}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(marker));
    await fsyncPath(tmp);
    fs.renameSync(tmp, this.markerPath);
    await fsyncPath(this.dir);
    crashPoint('install:after-marker', this.log);
    await this.replace(marker);
  }

  /** Steps 3 and 4: delete, ingest, then drop the journal. Idempotent. */
  private async replace(marker: InstallMarker): Promise<void> {
    const staged = marker.files.map((name) => path.join(this.filesPath, name));
    for (const file of staged) assert(fs.existsSync(file), `staged snapshot file ${file} exists while its marker does`);
    await this.stateMachine.clearReplicatedState(marker.spans.map((span) => ({ startKey: Buffer.from(span.start, 'hex'), endKey: Buffer.from(span.end, 'hex') })));
    crashPoint('install:after-delete', this.log);
    await this.stateMachine.ingestSnapshotFiles(staged);
    assert(this.stateMachine.appliedIndex() === marker.appliedIndex, 'the installed state is at the snapshot applied index');
    crashPoint('install:after-ingest', this.log);
    fs.rmSync(this.markerPath);
    await fsyncPath(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
