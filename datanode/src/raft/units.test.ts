// Unit and property tests of the core's building blocks: quorum arithmetic, configuration
// changes, the in-memory storage, the log and the inflight window.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../assert.ts';
import { applyConfChange, configFromConfState, confStateOf, type Configuration } from './confchange.ts';
import { RaftLog } from './log.ts';
import { Inflights } from './progress.ts';
import { jointCommitted, majorityCommitted, majorityVote } from './quorum.ts';
import { CompactedError, MemoryRaftStorage, UnavailableError } from './storage.ts';
import { simpleConfState, type ConfChange, type Entry } from './types.ts';

function entry(index: number, term: number, data = ''): Entry {
  return { index, term, kind: 'normal', data: new TextEncoder().encode(data) };
}

describe('quorum', () => {
  it('majorityCommitted is the largest index that a majority has reached', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(100), { minLength: 1, maxLength: 9 }), (matches) => {
        const voters = new Set(matches.map((_, i) => i + 1));
        const committed = majorityCommitted(voters, (id) => matches[id - 1] ?? 0);
        const quorum = Math.floor(matches.length / 2) + 1;
        expect(matches.filter((m) => m >= committed).length).toBeGreaterThanOrEqual(quorum);
        expect(matches.filter((m) => m >= committed + 1).length).toBeLessThan(quorum);
      }),
    );
  });

  it('a joint configuration needs both majorities; an empty half never limits', () => {
    const acked = new Map([[1, 10], [2, 10], [3, 1], [4, 1], [5, 1]]);
    const get = (id: number): number => acked.get(id) ?? 0;
    expect(jointCommitted(new Set([1, 2, 3]), new Set(), get)).toBe(10);
    expect(jointCommitted(new Set([1, 2, 3]), new Set([3, 4, 5]), get)).toBe(1);
    expect(majorityVote(new Set([1, 2, 3]), new Map([[1, true], [2, false]]))).toBe('pending');
    expect(majorityVote(new Set([1, 2, 3]), new Map([[1, false], [2, false]]))).toBe('lost');
    expect(majorityVote(new Set(), new Map())).toBe('won');
  });
});

describe('configuration changes', () => {
  const base = configFromConfState(simpleConfState([1, 2, 3], [4]));

  it("two voter changes under 'auto' go through a joint configuration", () => {
    const change: ConfChange = { transition: 'auto', changes: [{ op: 'add-voter', nodeId: 5 }, { op: 'remove', nodeId: 1 }] };
    // 'auto' with two changes enters a joint config instead.
    const joint = applyConfChange(base, change);
    expect(joint.ok && confStateOf(joint.config)).toMatchObject({ voters: [2, 3, 5], votersOutgoing: [1, 2, 3], autoLeave: true });
  });

  it('demoting an outgoing voter makes it a learner only when the joint config is left', () => {
    const entered = applyConfChange(base, { transition: 'joint-explicit', changes: [{ op: 'add-learner', nodeId: 3 }] });
    expect(entered.ok).toBe(true);
    if (!entered.ok) return;
    expect(confStateOf(entered.config)).toMatchObject({ voters: [1, 2], votersOutgoing: [1, 2, 3], learnersNext: [3] });
    const left = applyConfChange(entered.config, { transition: 'auto', changes: [] });
    expect(left.ok && confStateOf(left.config)).toMatchObject({ voters: [1, 2], votersOutgoing: [], learners: [3, 4], learnersNext: [] });
  });

  it('refuses invalid transitions with a reason', () => {
    expect(applyConfChange(base, { transition: 'auto', changes: [] })).toMatchObject({ ok: false });
    expect(applyConfChange(base, { transition: 'joint-auto', changes: [{ op: 'remove', nodeId: 1 }, { op: 'remove', nodeId: 2 }, { op: 'remove', nodeId: 3 }] })).toMatchObject({ ok: false, reason: 'removed all voters' });
    expect(applyConfChange(base, { transition: 'auto', changes: [{ op: 'add-voter', nodeId: 0 }] })).toMatchObject({ ok: false });
  });

  it('any sequence of changes keeps the configuration well-formed', () => {
    const op = fc.constantFrom('add-voter', 'add-learner', 'remove') as fc.Arbitrary<'add-voter' | 'add-learner' | 'remove'>;
    const change = fc.record({
      transition: fc.constantFrom('auto', 'joint-auto', 'joint-explicit') as fc.Arbitrary<ConfChange['transition']>,
      changes: fc.array(fc.record({ op, nodeId: fc.integer({ min: 1, max: 6 }) }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 20 }), (changes) => {
        let config: Configuration = base;
        for (const c of changes) {
          const result = applyConfChange(config, c);
          if (!result.ok) continue;
          config = result.config;
          // Round-trips through ConfState (which re-validates every invariant).
          const state = confStateOf(config);
          expect(confStateOf(configFromConfState(state))).toEqual(state);
          expect(config.incoming.size).toBeGreaterThan(0);
        }
      }),
    );
  });
});

describe('MemoryRaftStorage', () => {
  it('reports compacted and unavailable ranges with typed errors', () => {
    const storage = new MemoryRaftStorage(simpleConfState([1]));
    storage.append([entry(2, 1), entry(3, 1), entry(4, 2)]);
    storage.createSnapshot(3, simpleConfState([1]), 'ref');
    expect(storage.firstIndex()).toBe(4);
    expect(storage.term(3)).toBe(1);
    expect(() => storage.term(2)).toThrow(CompactedError);
    expect(() => storage.term(5)).toThrow(UnavailableError);
    expect(() => storage.entries(3, 5, 100)).toThrow(CompactedError);
    try {
      storage.entries(4, 6, 100);
    } catch (error) {
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as UnavailableError).code).toBe('PH_RAFT_UNAVAILABLE');
    }
  });

  it('append replaces a conflicting suffix; entries() honours maxBytes but returns one at least', () => {
    const storage = new MemoryRaftStorage(simpleConfState([1]));
    storage.append([entry(2, 1, 'aaaa'), entry(3, 1, 'bbbb'), entry(4, 1)]);
    storage.append([entry(3, 2, 'x')]);
    expect(storage.lastIndex()).toBe(3);
    expect(storage.term(3)).toBe(2);
    expect(storage.entries(2, 4, 1)).toHaveLength(1);
    expect(storage.entries(2, 4, 1000)).toHaveLength(2);
  });
});

describe('RaftLog', () => {
  it('keeps unstable entries until the host reports them stable, and never truncates committed ones', () => {
    const storage = new MemoryRaftStorage(simpleConfState([1]));
    const log = new RaftLog(storage, 1 << 20);
    log.append([entry(2, 1), entry(3, 1)]);
    expect(log.unstableEntries()).toHaveLength(2);
    storage.append(log.unstableEntries());
    log.stableTo(3, 1);
    expect(log.unstableEntries()).toHaveLength(0);
    log.commitTo(2);
    expect(log.maybeAppend(1, 1, 2, [entry(2, 1), entry(3, 2)])).toBe(3);
    expect(log.term(3)).toBe(2);
    expect(() => log.maybeAppend(1, 1, 2, [entry(2, 3)])).toThrow(AssertionError);
  });

  it('findConflictByTerm skips back over entries of newer terms', () => {
    const storage = new MemoryRaftStorage(simpleConfState([1]));
    const log = new RaftLog(storage, 1 << 20);
    log.append([entry(2, 2), entry(3, 2), entry(4, 5), entry(5, 5), entry(6, 5)]);
    expect(log.findConflictByTerm(6, 4)).toEqual({ index: 3, term: 2 });
    expect(log.findConflictByTerm(6, 5)).toEqual({ index: 6, term: 5 });
    expect(log.findConflictByTerm(10, 9)).toEqual({ index: 6, term: 5 });
  });
});

describe('Inflights', () => {
  it('is full by count or by bytes and frees acknowledged messages', () => {
    const inflights = new Inflights(3, 100);
    inflights.add(1, 10);
    inflights.add(2, 95);
    expect(inflights.full()).toBe(true);
    inflights.freeLE(1);
    expect(inflights.full()).toBe(false);
    expect(inflights.bytes()).toBe(95);
    inflights.freeFirstOne();
    expect(inflights.count()).toBe(0);
  });
});
