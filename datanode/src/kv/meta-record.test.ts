/**
 * Named meta-range records (`meta-record`: liveness records, drain flags): the command's wire form,
 * and their apply on the meta range (set, replace, delete, durable across a reload) while every
 * other range ignores them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../raft/types.ts';
import { decodeCommand, encodeCommand, type Command } from './command.ts';
import { firstUserRangeId, metaRangeId } from './descriptor.ts';
import { TempKvEngines } from './kv.test-support.ts';
import { KvStateMachine } from './state-machine.ts';

const engines = new TempKvEngines('meta-record');
afterEach(() => engines.cleanup());

let nextIndex = 1;
function entries(commands: readonly Command[]): Entry[] {
  return commands.map((command) => ({ kind: 'normal', index: nextIndex++, term: 1, data: encodeCommand(command) }) as Entry);
}

const record = (name: string, value: string | null): Command => ({ op: 'meta-record', name, value: value === null ? null : Buffer.from(value) });

describe('meta-record', () => {
  it('round-trips through the wire form, with a value and as a deletion', () => {
    for (const command of [record('liveness/7', '{"version":1}'), record('draining/3', null), record('ünïcode/1', '')]) {
      expect(decodeCommand(encodeCommand(command))).toEqual(command);
    }
  });

  it('sets, replaces and deletes records on the meta range only, durably', async () => {
    nextIndex = 1;
    const { kv } = await engines.open();
    const meta = new KvStateMachine(kv.engine, metaRangeId);
    const user = new KvStateMachine(kv.engine, firstUserRangeId);
    const results = await meta.apply(entries([record('liveness/1', 'a'), record('liveness/2', 'b'), record('draining/2', '5'), record('liveness/1', 'c'), record('draining/2', null)]));
    expect(results.every((result) => result?.op === 'meta-record')).toBe(true);
    expect([...meta.metaRecords('liveness/')].map(([name, value]) => [name, value.toString()])).toEqual([
      ['liveness/1', 'c'],
      ['liveness/2', 'b'],
    ]);
    expect(meta.metaRecords('draining/').size).toBe(0);
    // Another range applies it as a no-op.
    expect(await user.apply(entries([record('liveness/9', 'x')]))).toEqual([{ op: 'meta-record' }]);
    expect(user.metaRecords('').size).toBe(0);
    // A state machine opened afresh on the engine (a restart) reads the records back.
    const reopened = new KvStateMachine(kv.engine, metaRangeId);
    expect([...reopened.metaRecords('')].map(([name, value]) => [name, value.toString()])).toEqual([
      ['liveness/1', 'c'],
      ['liveness/2', 'b'],
    ]);
    expect(reopened.metaRecords('liveness/9').size).toBe(0);
  });
});
