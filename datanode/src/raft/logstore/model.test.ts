import fc from 'fast-check';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realFs } from '../../storage/fs.ts';
import { tempDir } from '../../storage/testing/tmp.ts';
import { MemoryRaftStorage } from '../storage.ts';
import { simpleConfState, type ConfState } from '../types.ts';
import { RaftLogEngine, type RaftLogEngineOptions } from './engine.ts';
import { expectSameStorage, makeEntries } from './logstore.test-support.ts';

/** Runs per property; PROPERTY_RUNS for more. */
const runs = Number(process.env.PROPERTY_RUNS ?? 25);
const groupIds = [1, 2, 3, 4];
const options: RaftLogEngineOptions = { segmentBytesMax: 4096, cacheBytesMax: 2000 };

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Positions are fractions in [0, 1) mapped onto whatever range is valid when the command runs. */
const fraction = fc.integer({ min: 0, max: 999 }).map((n) => n / 1000);
const group = fc.constantFrom(...groupIds);
const commandArb = fc.oneof(
  { weight: 8, arbitrary: fc.record({ c: fc.constant('append' as const), g: group, at: fraction, count: fc.integer({ min: 0, max: 6 }), term: fc.integer({ min: 1, max: 4 }), bytes: fc.integer({ min: 0, max: 400 }), hard: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('hardState' as const), g: group, term: fc.integer({ min: 1, max: 9 }), vote: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('leaderSnapshot' as const), g: group, ahead: fc.integer({ min: 0, max: 8 }), matchTerm: fc.boolean(), term: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ c: fc.constant('compact' as const), g: group, at: fraction }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('recreate' as const), g: group, voters: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('concurrent' as const), term: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('reopen' as const) }) },
);
type Command = typeof commandArb extends fc.Arbitrary<infer T> ? T : never;

function confOf(voters: number): ConfState {
  return simpleConfState(Array.from({ length: voters }, (_, i) => i + 1));
}

/** Across all runs, to show that rotation and GC were exercised. */
let segmentsDeleted = 0;

class Harness {
  readonly models = new Map<number, MemoryRaftStorage>();
  private seq = 0;

  constructor(public engine: RaftLogEngine) {}

  model(g: number): MemoryRaftStorage {
    const model = this.models.get(g);
    if (model === undefined) throw new Error(`model of group ${g}`);
    return model;
  }

  async run(command: Command): Promise<void> {
    switch (command.c) {
      case 'append': {
        const model = this.model(command.g);
        const first = model.firstIndex() + Math.floor(command.at * (model.lastIndex() + 2 - model.firstIndex()));
        const entries = makeEntries(command.g, first, command.count, command.term, command.bytes);
        const hardState = command.hard ? { term: command.term, vote: 1, commit: this.seq++ } : undefined;
        const written = this.engine.append(command.g, entries, hardState);
        model.append(entries);
        if (hardState !== undefined) model.setHardState(hardState);
        await written;
        return;
      }
      case 'hardState': {
        const hardState = { term: command.term, vote: command.vote, commit: this.seq++ };
        await this.engine.setHardState(command.g, hardState);
        this.model(command.g).setHardState(hardState);
        return;
      }
      case 'leaderSnapshot': {
        const model = this.model(command.g);
        const index = model.snapshot().index + command.ahead;
        const term = command.matchTerm && index <= model.lastIndex() ? model.term(index) : command.term;
        const snapshot = { index, term, confState: confOf(3), reference: `leader-${this.seq++}` };
        await this.engine.applySnapshot(command.g, snapshot);
        model.applySnapshot(snapshot);
        return;
      }
      case 'compact': {
        const model = this.model(command.g);
        const index = model.snapshot().index + Math.floor(command.at * (model.lastIndex() + 1 - model.snapshot().index));
        const reference = `local-${this.seq++}`;
        await this.engine.createSnapshot(command.g, index, confOf(2), reference);
        model.createSnapshot(index, confOf(2), reference);
        return;
      }
      case 'recreate':
        await this.engine.removeGroup(command.g);
        await this.engine.createGroup(command.g, confOf(command.voters));
        this.models.set(command.g, new MemoryRaftStorage(confOf(command.voters)));
        return;
      case 'concurrent': {
        // One append per group in the same turn: they share a group commit.
        const writes = groupIds.map((g) => {
          const model = this.model(g);
          const entries = makeEntries(g, model.lastIndex() + 1, 2, command.term, 100);
          const written = this.engine.append(g, entries);
          model.append(entries);
          return written;
        });
        await Promise.all(writes);
        return;
      }
      case 'reopen':
        segmentsDeleted += this.engine.stats.segmentsDeleted;
        await this.engine.close();
        this.engine = await RaftLogEngine.open(realFs, this.engine.dir, options);
        return;
    }
  }

  check(label: string): void {
    for (const [g, model] of this.models) expectSameStorage(model, this.engine.storageFor(g), `${label}, group ${g}`);
  }
}

describe(`RaftLogEngine against MemoryRaftStorage (${runs} runs)`, () => {
  it('answers every RaftStorage call like the in-memory model, across reopens, rotations and GC', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 5, maxLength: 50 }), async (commands) => {
        const t = tempDir('raftlog-model');
        cleanups.push(t.cleanup);
        const harness = new Harness(await RaftLogEngine.open(realFs, path.join(t.dir, 'log'), options));
        try {
          for (const g of groupIds) {
            await harness.engine.createGroup(g, confOf(g % 4));
            harness.models.set(g, new MemoryRaftStorage(confOf(g % 4)));
          }
          for (const [step, command] of commands.entries()) {
            await harness.run(command);
            harness.check(`step ${step} (${command.c})`);
          }
          await harness.run({ c: 'reopen' });
          harness.check('final reopen');
        } finally {
          await harness.engine.close();
          t.cleanup();
        }
      }),
      { numRuns: runs },
    );
    expect(segmentsDeleted).toBeGreaterThan(0);
  });
});
