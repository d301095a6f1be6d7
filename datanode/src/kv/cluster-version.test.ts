/**
 * The cluster version record of the meta range: written at bootstrap, raised (never lowered) by
 * replicated commands, kept across a restart, absent (the legacy version) in a meta range that
 * predates it; and a command op of a newer build is refused with a clear error, never guessed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../raft/types.ts';
import { decodeCommand, encodeCommand, UnknownCommandFormatError, type Command } from './command.ts';
import { metaRangeId, type RangeDescriptor } from './descriptor.ts';
import { layoutVersion, layoutVersionKey } from './keys.ts';
import { VersionError } from '../version/errors.ts';
import { TempKvEngines } from './kv.test-support.ts';
import { KvEngine, KvStateMachine, legacyClusterVersion } from './state-machine.ts';

const engines = new TempKvEngines('cv');
afterEach(() => engines.cleanup());
const openEngine = (dir?: string) => engines.open(dir);

const meta: RangeDescriptor = { rangeId: metaRangeId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), generation: 0, replicas: [{ nodeId: 1, voter: true }] };
let nextIndex = 1;
function entries(commands: readonly Command[]): Entry[] {
  return commands.map((command) => ({ kind: 'normal', index: nextIndex++, term: 1, data: encodeCommand(command) }) as Entry);
}

describe('cluster version record', () => {
  it('is written at bootstrap, raised by commands, never lowered, and survives a restart', async () => {
    const { kv, dir } = await openEngine();
    const sm = new KvStateMachine(kv.engine, metaRangeId);
    expect(sm.clusterVersion()).toBeUndefined();
    await sm.bootstrap(meta);
    await sm.bootstrapClusterVersion('0.2.0');
    await sm.bootstrapClusterVersion('0.9.0'); // a second bootstrap changes nothing
    expect(sm.clusterVersion()).toBe('0.2.0');
    const seen: string[] = [];
    sm.onClusterVersionChanged((version) => seen.push(version));
    const results = await sm.apply(entries([{ op: 'cluster-version', version: '0.3.0' }, { op: 'cluster-version', version: '0.2.5' }]));
    expect(results).toEqual([{ op: 'cluster-version', version: '0.3.0' }, { op: 'cluster-version', version: '0.3.0' }]);
    expect(sm.clusterVersion()).toBe('0.3.0');
    expect(seen).toEqual(['0.3.0']);
    await engines.close(kv);
    const reopened = await openEngine(dir);
    expect(new KvStateMachine(reopened.kv.engine, metaRangeId).clusterVersion()).toBe('0.3.0');
  });

  it('counts as the legacy version in a meta range bootstrapped before the record existed', async () => {
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, metaRangeId);
    await sm.bootstrap(meta);
    expect(sm.clusterVersion()).toBe(legacyClusterVersion);
    await sm.apply(entries([{ op: 'cluster-version', version: '0.2.0' }]));
    expect(sm.clusterVersion()).toBe('0.2.0');
  });

  it('is ignored outside the meta range', async () => {
    const { kv } = await openEngine();
    const sm = new KvStateMachine(kv.engine, 2);
    await sm.bootstrap({ ...meta, rangeId: 2 });
    await sm.apply(entries([{ op: 'cluster-version', version: '0.2.0' }]));
    expect(sm.clusterVersion()).toBeUndefined();
  });
});

describe('command formats', () => {
  it('round-trips the cluster-version command', () => {
    expect(decodeCommand(encodeCommand({ op: 'cluster-version', version: '1.2.3' }))).toEqual({ op: 'cluster-version', version: '1.2.3' });
  });
  it('refuses an op of a newer build with a clear error instead of misreading it', () => {
    const unknown = Buffer.from([200, 1, 2, 3]);
    expect(() => decodeCommand(unknown)).toThrow(UnknownCommandFormatError);
    expect(() => decodeCommand(unknown)).toThrow(/op 200 is not known to this build/);
    try {
      decodeCommand(unknown);
    } catch (err) {
      expect((err as UnknownCommandFormatError).code).toBe('PH_FORMAT_UNSUPPORTED');
    }
  });
});

describe('key layout version', () => {
  it('refuses a data directory written by a newer build, naming both layout versions', async () => {
    const { kv, dir } = await openEngine();
    await kv.engine.put(layoutVersionKey, Buffer.from(String(layoutVersion + 1)), { sync: true });
    await engines.close(kv);
    const error = await KvEngine.open(dir).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(VersionError);
    expect((error as VersionError).code).toBe('PH_FORMAT_UNSUPPORTED');
    expect((error as VersionError).message).toContain(`layout version ${layoutVersion + 1}, newer than the version ${layoutVersion}`);
  });
});
