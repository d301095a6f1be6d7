/**
 * The journaled snapshot install (snapshot-install.ts) on real state machines: a clean install,
 * and recovery from the states a crash leaves after each step (marker written, range deleted,
 * files ingested), each checked to end with exactly the snapshot's data. The cluster test
 * (test/cluster/snapshot-crash.test.ts) kills real processes at the same points.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCommand, type Command } from '../kv/command.ts';
import type { RangeDescriptor } from '../kv/descriptor.ts';
import { KvEngine, KvStateMachine } from '../kv/state-machine.ts';
import type { Entry } from '../raft/types.ts';
import { SnapshotInstaller } from './snapshot-install.ts';

const dirs: string[] = [];
const open: KvStateMachine[] = [];

afterEach(async () => {
  for (const sm of open.splice(0)) await sm.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-install-'));
  dirs.push(dir);
  return dir;
}

const replicas = [{ nodeId: 1, voter: true }];
/** Range 2 holds the user keys below "m"; range 5 (on the follower only) the rest. */
const left: RangeDescriptor = { rangeId: 2, startKey: Buffer.alloc(0), endKey: Buffer.from('m'), generation: 1, replicas };
const right: RangeDescriptor = { rangeId: 5, startKey: Buffer.from('m'), endKey: Buffer.alloc(0), generation: 1, replicas };

/** Opens the engine at `dir` and range 2's state machine on it (bootstrapped if new). */
async function openSm(dir: string): Promise<KvStateMachine> {
  const kv = await KvEngine.open(dir);
  const sm = new KvStateMachine(kv.engine, 2);
  await sm.bootstrap(left);
  open.push(sm);
  return sm;
}

/** Range 5 on the same engine as `sm`, holding one key of its own. */
async function neighbour(sm: KvStateMachine): Promise<KvStateMachine> {
  const other = new KvStateMachine(sm.engine, 5);
  await other.bootstrap(right);
  if (other.appliedIndex() === 0) await other.apply(entries(1, [put('zebra', 'stays')]));
  return other;
}

async function closeSm(sm: KvStateMachine): Promise<void> {
  open.splice(open.indexOf(sm), 1);
  await sm.flush();
  await sm.close();
}

function entries(from: number, commands: readonly Command[]): Entry[] {
  return commands.map((command, i) => ({ kind: 'normal', index: from + i, term: 1, data: encodeCommand(command) }) as Entry);
}

function put(key: string, value: string): Command {
  return { op: 'put', key: Buffer.from(key), value: Buffer.from(value) };
}

function rows(sm: KvStateMachine): Record<string, string> {
  const out: Record<string, string> = {};
  for (const row of sm.scan(Buffer.alloc(0), Buffer.from('m'), 1000, 1 << 20).rows) out[row.key.toString()] = row.value.toString();
  return out;
}

/** A leader's state at applied index 20 exported to files, and a follower with older, different data. */
async function setup(): Promise<{ files: string[]; follower: KvStateMachine; followerDir: string; received: string }> {
  const base = tempDir();
  const leader = await openSm(path.join(base, 'leader'));
  await leader.apply(entries(1, [put('a', 'new-a'), put('b', 'new-b'), put('zebra', 'not in range 2')]));
  await leader.apply(entries(4, Array.from({ length: 17 }, (_, i) => put(`k${i}`, `v${i}`))));
  expect(leader.appliedIndex()).toBe(20);
  const { files } = await leader.exportSnapshot(path.join(base, 'export'));
  const followerDir = path.join(base, 'follower');
  const follower = await openSm(path.join(followerDir, 'kv'));
  await follower.apply(entries(1, [put('a', 'old-a'), put('gone', 'stale')]));
  await neighbour(follower);
  const received = path.join(base, 'received');
  fs.mkdirSync(received);
  const copies = files.map((file) => {
    const copy = path.join(received, path.basename(file));
    fs.copyFileSync(file, copy);
    return copy;
  });
  return { files: copies, follower, followerDir, received };
}

function expectSnapshotState(sm: KvStateMachine): void {
  expect(sm.appliedIndex()).toBe(20);
  const data = rows(sm);
  expect(data.a).toBe('new-a');
  expect(data.gone).toBeUndefined();
  expect(Object.keys(data)).toHaveLength(19);
  expect(sm.descriptor()?.endKey.toString()).toBe('m');
  // The snapshot of range 2 leaves range 5's keys and state alone.
  const other = new KvStateMachine(sm.engine, 5);
  expect(other.get(Buffer.from('zebra'))?.toString()).toBe('stays');
  expect(other.appliedIndex()).toBe(1);
  expect(other.descriptor()?.startKey.toString()).toBe('m');
}

/**
 * Makes the next `times` ingests of `sm` fail (a run-time I/O error, not a crash), after
 * `halfWrite` (what a partial ingest could leave); counts them.
 */
function failIngest(sm: KvStateMachine, times: number, halfWrite: () => Promise<void> = () => Promise.resolve()): { failed: number } {
  const counter = { failed: 0 };
  const ingest = sm.ingestSnapshotFiles.bind(sm);
  sm.ingestSnapshotFiles = async (files) => {
    if (counter.failed < times) {
      counter.failed++;
      await halfWrite();
      throw new Error('EIO: injected ingest failure');
    }
    await ingest(files);
  };
  return counter;
}

/** The snapshot's state, with the neighbour's key `cleared` gone (a superseded install's span covered it). */
function expectSnapshotStateWithout(sm: KvStateMachine, cleared: string): void {
  expect(sm.appliedIndex()).toBe(20);
  const data = rows(sm);
  expect(data.a).toBe('new-a');
  expect(data.gone).toBeUndefined();
  expect(Object.keys(data)).toHaveLength(19);
  expect(new KvStateMachine(sm.engine, 5).get(Buffer.from(cleared))).toBeUndefined();
}

const meta = { snapshotIndex: 25, snapshotTerm: 2, appliedIndex: 20, spans: [{ startKey: left.startKey, endKey: left.endKey }] };
const markerSpans = [{ start: '', end: Buffer.from('m').toString('hex') }];

describe('snapshot install journal', () => {
  it('installs and leaves no journal behind', async () => {
    const { files, follower, followerDir } = await setup();
    const staging = path.join(followerDir, 'snapshot-install');
    await new SnapshotInstaller(staging, follower, () => undefined).install(files, meta);
    expectSnapshotState(follower);
    expect(fs.existsSync(staging)).toBe(false);
  });

  for (const crashedAfter of ['marker', 'delete', 'ingest'] as const) {
    it(`recovers the snapshot's state after a crash following the ${crashedAfter} step, and again when recovery itself is repeated`, async () => {
      const { files, follower, followerDir } = await setup();
      const staging = path.join(followerDir, 'snapshot-install');
      // Reproduce what the journal holds at that crash point: the staged files and the marker,
      // plus the engine steps already done.
      fs.mkdirSync(path.join(staging, 'files'), { recursive: true });
      for (const file of files) fs.renameSync(file, path.join(staging, 'files', path.basename(file)));
      fs.writeFileSync(path.join(staging, 'INSTALL'), JSON.stringify({ version: 1, snapshotIndex: 25, snapshotTerm: 2, appliedIndex: 20, spans: markerSpans, files: files.map((file) => path.basename(file)) }));
      if (crashedAfter !== 'marker') await follower.clearReplicatedState(meta.spans);
      if (crashedAfter === 'ingest') await follower.ingestSnapshotFiles(files.map((file) => path.join(staging, 'files', path.basename(file))));
      await closeSm(follower);

      const reopened = await openSm(path.join(followerDir, 'kv'));
      const installer = new SnapshotInstaller(staging, reopened, () => undefined);
      expect(installer.pending()?.snapshotIndex).toBe(25);
      expect((await installer.recover())?.appliedIndex).toBe(20);
      expectSnapshotState(reopened);
      expect(fs.existsSync(staging)).toBe(false);
      expect(await installer.recover()).toBeUndefined();
      await closeSm(reopened);
      expectSnapshotState(await openSm(path.join(followerDir, 'kv')));
    });
  }

  it('redoes an install whose ingest failed at run time at once, from the staged files', async () => {
    const { files, follower, followerDir } = await setup();
    const staging = path.join(followerDir, 'snapshot-install');
    const lines: string[] = [];
    const failures = failIngest(follower, 1);
    await new SnapshotInstaller(staging, follower, (line) => lines.push(line)).install(files, meta);
    expect(failures.failed).toBe(1);
    expect(lines.some((line) => line.includes('redoing it from the staged files'))).toBe(true);
    expectSnapshotState(follower);
    expect(fs.existsSync(staging)).toBe(false);
  });

  it('lets the next install supersede one that failed at run time twice (no restart needed), clearing what the failed one half-wrote', async () => {
    const { files, follower, followerDir, received } = await setup();
    const staging = path.join(followerDir, 'snapshot-install');
    // Copies of the same snapshot's files for the second install (same names as the first's).
    const second = path.join(received, 'second');
    fs.mkdirSync(second);
    const secondFiles = files.map((file) => {
      const copy = path.join(second, path.basename(file));
      fs.copyFileSync(file, copy);
      return copy;
    });
    const installer = new SnapshotInstaller(staging, follower, () => undefined);
    // The failed install covered a span the next one does not (the replica's old, wider span),
    // and its partial ingest left a key there.
    const wider = { ...meta, spans: [...meta.spans, { startKey: Buffer.from('m'), endKey: Buffer.alloc(0) }] };
    const stray = new KvStateMachine(follower.engine, 5);
    const failures = failIngest(follower, 2, async () => {
      await stray.apply(entries(stray.appliedIndex() + 1, [put('n-half', 'partial')]));
    });
    await expect(installer.install(files, wider)).rejects.toThrow(/injected ingest failure/);
    expect(failures.failed).toBe(2);
    expect(installer.pending()?.snapshotIndex).toBe(25);
    expect(stray.get(Buffer.from('n-half'))?.toString()).toBe('partial');
    await installer.install(secondFiles, { ...meta, snapshotIndex: 30 });
    expectSnapshotStateWithout(follower, 'n-half');
    expect(installer.pending()).toBeUndefined();
    expect(fs.existsSync(staging)).toBe(false);
  });

  it('discards staged files that never got a marker (the old state was not touched)', async () => {
    const { files, follower, followerDir } = await setup();
    const staging = path.join(followerDir, 'snapshot-install');
    fs.mkdirSync(path.join(staging, 'files'), { recursive: true });
    for (const file of files) fs.renameSync(file, path.join(staging, 'files', path.basename(file)));
    expect(await new SnapshotInstaller(staging, follower, () => undefined).recover()).toBeUndefined();
    expect(fs.existsSync(staging)).toBe(false);
    expect(rows(follower)).toEqual({ a: 'old-a', gone: 'stale' });
  });
});
