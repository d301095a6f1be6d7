import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AssertionError } from '../../datanode/src/assert.ts';
import { checkLinearizable, type Model, type ModelState, type Operation } from './checker.ts';
import { counterClock, HistoryRecorder } from './history.ts';
import {
  appendKvModel,
  phantomKvModel,
  registerModel,
  type AppendKvInput,
  type AppendKvOutput,
  type KeyValueState,
  type PhantomKvInput,
  type PhantomKvOutput,
  type RegisterInput,
  type RegisterOutput,
  type RegisterValue,
} from './models.ts';
import {
  listFixtures,
  parseEdn,
  parseExpectedVerdicts,
  parseJepsenRegisterLog,
  parseKvHistory,
  readFixture,
} from './parse.ts';
import { seededRng, simulateHistory, type Rng, type SequentialObject, type SimulationOptions } from './simulate.ts';

/** Property-test runs; raise with PROPERTY_RUNS=1000 for a longer search. */
const propertyRuns = Number(process.env['PROPERTY_RUNS'] ?? '150');
/** Generous per-file limit for fixture checks; a timeout would show up as verdict 'unknown'. */
const fixtureTimeoutMs = 50_000;

// ---------------------------------------------------------------------------------------------
// Builders for hand-written histories: [call, return] times, return null = unknown outcome.

function op<I, O>(clientId: number, input: I, callMs: number, returnMs: number, output: O): Operation<I, O> {
  return { clientId, input, callMs, returnMs, outcome: { kind: 'ok', output } };
}

function unknownOp<I, O>(clientId: number, input: I, callMs: number): Operation<I, O> {
  return { clientId, input, callMs, returnMs: Infinity, outcome: { kind: 'unknown' } };
}

type RegisterOp = Operation<RegisterInput, RegisterOutput>;
const read = (client: number, call: number, ret: number, value: RegisterValue): RegisterOp =>
  op(client, { kind: 'read' }, call, ret, { kind: 'read', value });
const write = (client: number, call: number, ret: number, value: RegisterValue): RegisterOp =>
  op(client, { kind: 'write', value }, call, ret, { kind: 'write' });
const cas = (client: number, call: number, ret: number, expected: RegisterValue, next: RegisterValue, ok: boolean): RegisterOp =>
  op(client, { kind: 'cas', expected, next }, call, ret, { kind: 'cas', ok });

function verdictOf<S extends ModelState, I, O>(model: Model<S, I, O>, history: Operation<I, O>[]): string {
  return checkLinearizable(model, history, { timeoutMs: 10_000 }).verdict;
}

// ---------------------------------------------------------------------------------------------
// Recorded fixtures

const timings: string[] = [];
afterAll(() => {
  if (timings.length > 0) console.log(`linearizability fixture timings:\n${timings.join('\n')}`);
});

describe('etcd Jepsen fixtures (register model)', () => {
  const expected = parseExpectedVerdicts(readFixture('etcd-jepsen', 'EXPECTED.tsv'));

  it('lists 102 histories, each of them present', () => {
    expect(expected.size).toBe(102);
    const present = new Set(listFixtures('etcd-jepsen'));
    for (const file of expected.keys()) expect(present.has(file), file).toBe(true);
  });

  let totalMs = 0;
  let slowest = { file: '', ms: 0 };
  afterAll(() => {
    timings.push(`  etcd-jepsen: ${expected.size} files in ${totalMs.toFixed(0)} ms (slowest ${slowest.file}: ${slowest.ms.toFixed(0)} ms)`);
  });

  it.each([...expected.entries()])('%s is %s', (file, verdict) => {
    const history = parseJepsenRegisterLog(readFixture('etcd-jepsen', file));
    const result = checkLinearizable(registerModel(), history, { timeoutMs: fixtureTimeoutMs });
    totalMs += result.elapsedMs;
    if (result.elapsedMs > slowest.ms) slowest = { file, ms: result.elapsedMs };
    expect(result.verdict, result.report).toBe(verdict);
  });
});

describe('kv fixtures (get/put/append model, partitioned by key)', () => {
  const files = listFixtures('kv').filter((file) => file.endsWith('.txt'));

  it('has ok and bad histories for 1, 10 and 50 clients', () => {
    expect(files).toEqual(['c01-bad.txt', 'c01-ok.txt', 'c10-bad.txt', 'c10-ok.txt', 'c50-bad.txt', 'c50-ok.txt']);
  });

  it.each(files)('%s', (file) => {
    const history = parseKvHistory(readFixture('kv', file));
    const result = checkLinearizable(appendKvModel(), history, { timeoutMs: fixtureTimeoutMs });
    const visited = result.partitions.reduce((sum, partition) => sum + partition.visitedStates, 0);
    timings.push(`  kv/${file}: ${history.length} operations, ${result.verdict} in ${result.elapsedMs.toFixed(0)} ms (${visited} states)`);
    expect(result.verdict, result.report).toBe(file.endsWith('-ok.txt') ? 'linearizable' : 'not-linearizable');
    // "Well under a minute" for the 50-client histories.
    expect(result.elapsedMs).toBeLessThan(30_000);
  });

  it('explains a violation with the longest prefix and the blocked operation', () => {
    const result = checkLinearizable(appendKvModel(), parseKvHistory(readFixture('kv', 'c01-bad.txt')));
    expect(result.verdict).toBe('not-linearizable');
    expect(result.failure?.blockedOperation).toBeDefined();
    expect(result.report).toContain('longest linearizable prefix');
    expect(result.report).toContain('could not linearize');
  });
});

// ---------------------------------------------------------------------------------------------
// Register model

describe('register model', () => {
  const model = registerModel();

  it('rejects a stale read and names it in the report', () => {
    const history = [write(0, 0, 1, 1), write(1, 2, 3, 2), read(2, 4, 5, 1)];
    const result = checkLinearizable(model, history);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.failure?.blockedOperation).toBe(history[2]);
    expect(result.failure?.linearization.map((step) => step.operation)).toEqual([history[0], history[1]]);
    expect(result.report).toContain('read() -> 1');
  });

  it('accepts both orders of concurrent writes', () => {
    const writes = [write(0, 0, 10, 1), write(1, 1, 9, 2)];
    expect(verdictOf(model, [...writes, read(2, 11, 12, 1)])).toBe('linearizable');
    expect(verdictOf(model, [...writes, read(2, 11, 12, 2)])).toBe('linearizable');
    expect(verdictOf(model, [...writes, read(2, 11, 12, 3)])).toBe('not-linearizable');
    // Two sequential reads cannot see the two orders at once.
    expect(verdictOf(model, [...writes, read(2, 11, 12, 2), read(2, 13, 14, 1)])).toBe('not-linearizable');
  });

  it('lets a read concurrent with a write see either value', () => {
    const base = [write(0, 0, 1, 1), write(0, 2, 6, 2)];
    expect(verdictOf(model, [...base, read(1, 3, 4, 1)])).toBe('linearizable');
    expect(verdictOf(model, [...base, read(1, 3, 4, 2)])).toBe('linearizable');
    expect(verdictOf(model, [...base, read(1, 3, 4, null)])).toBe('not-linearizable');
  });

  it('lets an unknown-outcome write take effect late, or never', () => {
    const lost: RegisterOp = unknownOp(0, { kind: 'write', value: 7 }, 0);
    expect(verdictOf(model, [lost, read(1, 1, 2, null), read(1, 3, 4, 7)])).toBe('linearizable');
    expect(verdictOf(model, [lost, read(1, 1, 2, null), read(1, 3, 4, null)])).toBe('linearizable');
    expect(verdictOf(model, [lost, read(1, 1, 2, 7), read(1, 3, 4, null)])).toBe('not-linearizable');
    // It cannot take effect before it was invoked.
    expect(verdictOf(model, [read(1, 0, 1, 7), unknownOp(0, { kind: 'write', value: 7 }, 2)])).toBe('not-linearizable');
  });

  it('gives cas its success and failure semantics', () => {
    expect(verdictOf(model, [cas(0, 0, 1, null, 1, true), cas(1, 2, 3, null, 2, false), read(0, 4, 5, 1)])).toBe('linearizable');
    // A cas that succeeded although the value did not match.
    expect(verdictOf(model, [write(0, 0, 1, 1), cas(0, 2, 3, 2, 3, true)])).toBe('not-linearizable');
    // A cas that failed although the value matched.
    expect(verdictOf(model, [write(0, 0, 1, 1), cas(0, 2, 3, 1, 3, false)])).toBe('not-linearizable');
    // A failed cas changes nothing.
    expect(verdictOf(model, [write(0, 0, 1, 1), cas(0, 2, 3, 2, 3, false), read(0, 4, 5, 3)])).toBe('not-linearizable');
    // Concurrent cas: only one of two identical swaps can win.
    const race = [write(0, 0, 1, 0), cas(1, 2, 5, 0, 1, true), cas(2, 3, 6, 0, 2, true)];
    expect(verdictOf(model, race)).toBe('not-linearizable');
  });

  it('lets an unknown cas apply only when its precondition holds', () => {
    const pendingCas: RegisterOp = unknownOp(2, { kind: 'cas', expected: 1, next: 5 }, 2);
    expect(verdictOf(model, [write(0, 0, 1, 1), pendingCas, read(1, 3, 4, 5)])).toBe('linearizable');
    expect(verdictOf(model, [write(0, 0, 1, 2), pendingCas, read(1, 3, 4, 5)])).toBe('not-linearizable');
  });
});

// ---------------------------------------------------------------------------------------------
// Key-value models

type PhantomOp = Operation<PhantomKvInput, PhantomKvOutput>;
const put = (client: number, call: number, ret: number, key: string, value: string): PhantomOp =>
  op(client, { kind: 'put', key, value }, call, ret, { kind: 'put' });
const get = (client: number, call: number, ret: number, key: string, value: string | null): PhantomOp =>
  op(client, { kind: 'get', key }, call, ret, { kind: 'get', value });
const del = (client: number, call: number, ret: number, key: string): PhantomOp =>
  op(client, { kind: 'delete', key }, call, ret, { kind: 'delete' });
const kvCas = (client: number, call: number, ret: number, key: string, expected: string | null, next: string, ok: boolean): PhantomOp =>
  op(client, { kind: 'cas', key, expected, next }, call, ret, { kind: 'cas', ok });

describe('PhantomDB key-value model', () => {
  const model = phantomKvModel();

  it('answers null for absent keys and after delete', () => {
    expect(verdictOf(model, [get(0, 0, 1, 'a', null)])).toBe('linearizable');
    expect(verdictOf(model, [put(0, 0, 1, 'a', 'x'), del(0, 2, 3, 'a'), get(1, 4, 5, 'a', null)])).toBe('linearizable');
    expect(verdictOf(model, [put(0, 0, 1, 'a', 'x'), del(0, 2, 3, 'a'), get(1, 4, 5, 'a', 'x')])).toBe('not-linearizable');
    expect(verdictOf(model, [get(0, 0, 1, 'a', '')])).toBe('not-linearizable');
  });

  it('compare-and-set against absent and present values', () => {
    expect(verdictOf(model, [kvCas(0, 0, 1, 'a', null, 'x', true), get(0, 2, 3, 'a', 'x')])).toBe('linearizable');
    expect(verdictOf(model, [put(0, 0, 1, 'a', 'y'), kvCas(0, 2, 3, 'a', null, 'x', false), get(0, 4, 5, 'a', 'y')])).toBe('linearizable');
    expect(verdictOf(model, [put(0, 0, 1, 'a', 'y'), kvCas(0, 2, 3, 'a', null, 'x', true)])).toBe('not-linearizable');
    expect(verdictOf(model, [put(0, 0, 1, 'a', 'y'), kvCas(0, 2, 3, 'a', 'y', 'z', false)])).toBe('not-linearizable');
    expect(verdictOf(model, [put(0, 0, 1, 'a', 'y'), del(0, 2, 3, 'a'), kvCas(0, 4, 5, 'a', null, 'z', true)])).toBe('linearizable');
  });

  it('lets an unknown-outcome delete apply or not', () => {
    const lostDelete: PhantomOp = unknownOp(1, { kind: 'delete', key: 'a' }, 2);
    const base = [put(0, 0, 1, 'a', 'x'), lostDelete];
    expect(verdictOf(model, [...base, get(0, 3, 4, 'a', 'x'), get(0, 5, 6, 'a', null)])).toBe('linearizable');
    expect(verdictOf(model, [...base, get(0, 3, 4, 'a', 'x'), get(0, 5, 6, 'a', 'x')])).toBe('linearizable');
    expect(verdictOf(model, [...base, get(0, 3, 4, 'a', null), get(0, 5, 6, 'a', 'x')])).toBe('not-linearizable');
  });

  it('checks keys independently and reports the failing partition', () => {
    const history = [put(0, 0, 10, 'a', '1'), put(1, 0, 10, 'b', '1'), get(2, 11, 12, 'b', '1'), get(2, 13, 14, 'a', '2')];
    const result = checkLinearizable(model, history);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.partitionCount).toBe(2);
    expect(result.failure?.blockedOperation).toBe(history[3]);
    expect(result.report).toContain('get("a") -> "2"');
  });
});

describe('get/put/append key-value model', () => {
  const model = appendKvModel();
  type AppendOp = Operation<AppendKvInput, AppendKvOutput>;
  const append = (client: number, call: number, ret: number, key: string, value: string): AppendOp =>
    op(client, { kind: 'append', key, value }, call, ret, { kind: 'append' });
  const getValue = (client: number, call: number, ret: number, key: string, value: string): AppendOp =>
    op(client, { kind: 'get', key }, call, ret, { kind: 'get', value });

  it('starts every key at "" and concatenates appends in linearization order', () => {
    expect(verdictOf(model, [getValue(0, 0, 1, 'k', '')])).toBe('linearizable');
    const appends = [append(0, 0, 5, 'k', 'a'), append(1, 1, 6, 'k', 'b')];
    expect(verdictOf(model, [...appends, getValue(2, 7, 8, 'k', 'ab')])).toBe('linearizable');
    expect(verdictOf(model, [...appends, getValue(2, 7, 8, 'k', 'ba')])).toBe('linearizable');
    expect(verdictOf(model, [...appends, getValue(2, 7, 8, 'k', 'a')])).toBe('not-linearizable');
    const overwritten = [append(0, 0, 1, 'k', 'a'), op<AppendKvInput, AppendKvOutput>(0, { kind: 'put', key: 'k', value: 'z' }, 2, 3, { kind: 'put' })];
    expect(verdictOf(model, [...overwritten, getValue(1, 4, 5, 'k', 'z')])).toBe('linearizable');
  });
});

// ---------------------------------------------------------------------------------------------
// Checker mechanics

describe('checker limits and validation', () => {
  const contended = parseKvHistory(readFixture('kv', 'c10-ok.txt'));

  it('returns unknown, not a verdict, when the time runs out', () => {
    // An injected clock that jumps 1 s per reading: the first deadline check already fails.
    let nowMs = 0;
    const clock = { nowMs: () => (nowMs += 1000) };
    const result = checkLinearizable(appendKvModel(), contended, { timeoutMs: 500, clock });
    expect(result.verdict).toBe('unknown');
    expect(result.failure?.unknownReason).toBe('timeout');
    expect(result.report).toContain('timeout');
  });

  it('returns unknown when the memo reaches its size limit', () => {
    const result = checkLinearizable(appendKvModel(), contended, { visitedStatesMax: 5 });
    expect(result.verdict).toBe('unknown');
    expect(result.failure?.unknownReason).toBe('visited-states-limit');
  });

  it('uses model.equal when the hash is coarse', () => {
    const coarse: Model<RegisterValue, RegisterInput, RegisterOutput> = {
      ...registerModel(),
      hash: () => 'all states share this hash',
      equal: (a, b) => a === b,
    };
    for (const [file, verdict] of [['etcd_000.log', 'not-linearizable'], ['etcd_002.log', 'linearizable']] as const) {
      expect(verdictOf(coarse, parseJepsenRegisterLog(readFixture('etcd-jepsen', file))), file).toBe(verdict);
    }
  });

  it('rejects malformed histories', () => {
    expect(() => checkLinearizable(registerModel(), [read(0, 5, 4, null)])).toThrow(AssertionError);
    const unknownWithReturn: RegisterOp = { ...read(0, 0, 1, null), outcome: { kind: 'unknown' } };
    expect(() => checkLinearizable(registerModel(), [unknownWithReturn])).toThrow(AssertionError);
  });

  it('accepts the empty history', () => {
    expect(verdictOf(registerModel(), [])).toBe('linearizable');
    expect(verdictOf(phantomKvModel(), [])).toBe('linearizable');
  });
});

// ---------------------------------------------------------------------------------------------
// Recorder and parsers

describe('HistoryRecorder', () => {
  it('records ok, drops failed, and marks unknown and pending operations as never returning', () => {
    const recorder = new HistoryRecorder<string, number>({ clock: counterClock(100) });
    const first = recorder.invoke('c1', 'a');
    const second = recorder.invoke('c2', 'b');
    const third = recorder.invoke('c3', 'c');
    recorder.ok(first, 1);
    recorder.fail(second);
    recorder.unknown(third);
    recorder.invoke('c3', 'd');
    expect(recorder.toOperations()).toEqual([
      { clientId: 'c1', input: 'a', callMs: 100, returnMs: 103, outcome: { kind: 'ok', output: 1 } },
      { clientId: 'c3', input: 'c', callMs: 102, returnMs: Infinity, outcome: { kind: 'unknown' } },
      { clientId: 'c3', input: 'd', callMs: 104, returnMs: Infinity, outcome: { kind: 'unknown' } },
    ]);
  });

  it('refuses a second pending invocation per client and double completion', () => {
    const recorder = new HistoryRecorder<string, number>();
    const handle = recorder.invoke(1, 'a');
    expect(() => recorder.invoke(1, 'b')).toThrow(AssertionError);
    recorder.ok(handle, 1);
    expect(() => recorder.fail(handle)).toThrow(AssertionError);
  });

  it('refuses a clock that goes backwards and respects its size limit', () => {
    const times = [5, 3];
    const recorder = new HistoryRecorder<string, number>({ clock: { nowMs: () => times.shift() ?? 0 } });
    recorder.invoke(1, 'a');
    expect(() => recorder.invoke(2, 'b')).toThrow(AssertionError);
    const small = new HistoryRecorder<string, number>({ invocationsMax: 1 });
    small.invoke(1, 'a');
    expect(() => small.invoke(2, 'b')).toThrow(AssertionError);
  });
});

describe('parsers', () => {
  it('reads the EDN subset of the fixtures', () => {
    const value = parseEdn('{:process 3, :type :ok, :value "a \\"q\\" b", :pair [1 nil], :flag true}');
    expect(value).toEqual(
      new Map<string, unknown>([
        ['process', 3],
        ['type', { keyword: 'ok' }],
        ['value', 'a "q" b'],
        ['pair', [1, null]],
        ['flag', true],
      ]),
    );
    expect(() => parseEdn('{:a 1')).toThrow(AssertionError);
  });

  it('pairs Jepsen events, skipping noise, with tabs or spaces', () => {
    const log = [
      'INFO  jepsen.core - some noise line',
      'INFO  jepsen.util - 0\t:invoke\t:write\t3',
      'INFO  jepsen.util - 1   :invoke :cas    [3 4]',
      'INFO  jepsen.util - 2\t:invoke\t:read\tnil',
      'INFO  jepsen.util - 0\t:ok\t:write\t3',
      'INFO  jepsen.util - 1   :fail   :cas    [3 4]',
      'INFO  jepsen.util - 2\t:fail\t:read\t:timed-out',
      'INFO  jepsen.util - 3\t:invoke\t:write\t1',
      'INFO  jepsen.util - 3\t:info\t:write\t:timed-out',
      'INFO  jepsen.util - 4\t:invoke\t:read\tnil',
      'INFO  jepsen.util - 4\t:ok\t:read\t1',
      '',
    ].join('\n');
    expect(parseJepsenRegisterLog(log)).toEqual([
      { clientId: 0, input: { kind: 'write', value: 3 }, callMs: 0, returnMs: 3, outcome: { kind: 'ok', output: { kind: 'write' } } },
      { clientId: 1, input: { kind: 'cas', expected: 3, next: 4 }, callMs: 1, returnMs: 4, outcome: { kind: 'ok', output: { kind: 'cas', ok: false } } },
      { clientId: 3, input: { kind: 'write', value: 1 }, callMs: 5, returnMs: Infinity, outcome: { kind: 'unknown' } },
      { clientId: 4, input: { kind: 'read' }, callMs: 6, returnMs: 7, outcome: { kind: 'ok', output: { kind: 'read', value: 1 } } },
    ]);
  });

  it('pairs kv events', () => {
    const text = [
      '{:process 1, :type :invoke, :f :append, :key "k", :value "x"}',
      '{:process 2, :type :invoke, :f :get, :key "k", :value nil}',
      '{:process 1, :type :ok, :f :append, :key "k", :value "x"}',
      '{:process 2, :type :ok, :f :get, :key "k", :value "x"}',
    ].join('\n');
    expect(parseKvHistory(text)).toEqual([
      { clientId: 1, input: { kind: 'append', key: 'k', value: 'x' }, callMs: 0, returnMs: 2, outcome: { kind: 'ok', output: { kind: 'append' } } },
      { clientId: 2, input: { kind: 'get', key: 'k' }, callMs: 1, returnMs: 3, outcome: { kind: 'ok', output: { kind: 'get', value: 'x' } } },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests: simulated linearizable executions

/** Values no simulated operation ever writes. */
const neverWrittenNumber = -1;
const neverWrittenString = 'never written';

const registerObject: SequentialObject<RegisterValue, RegisterInput, RegisterOutput> = {
  initial: null,
  apply(state, input) {
    switch (input.kind) {
      case 'read':
        return { state, output: { kind: 'read', value: state } };
      case 'write':
        return { state: input.value, output: { kind: 'write' } };
      case 'cas':
        return state === input.expected
          ? { state: input.next, output: { kind: 'cas', ok: true } }
          : { state, output: { kind: 'cas', ok: false } };
    }
  },
  randomInput(rng) {
    const value = (): RegisterValue => Math.floor(rng.next() * 4);
    const roll = rng.next();
    if (roll < 0.4) return { kind: 'read' };
    if (roll < 0.7) return { kind: 'write', value: value() };
    return { kind: 'cas', expected: rng.next() < 0.2 ? null : value(), next: value() };
  },
};

/** An independent reference implementation of PhantomDB's map (a Map, not the model's lists). */
const phantomKvObject: SequentialObject<ReadonlyMap<string, string>, PhantomKvInput, PhantomKvOutput> = {
  initial: new Map(),
  apply(state, input) {
    const current = state.get(input.key) ?? null;
    const updated = (value: string | undefined): Map<string, string> => {
      const copy = new Map(state);
      if (value === undefined) copy.delete(input.key);
      else copy.set(input.key, value);
      return copy;
    };
    switch (input.kind) {
      case 'get':
        return { state, output: { kind: 'get', value: current } };
      case 'put':
        return { state: updated(input.value), output: { kind: 'put' } };
      case 'delete':
        return { state: updated(undefined), output: { kind: 'delete' } };
      case 'cas':
        return current === input.expected
          ? { state: updated(input.next), output: { kind: 'cas', ok: true } }
          : { state, output: { kind: 'cas', ok: false } };
    }
  },
  randomInput(rng) {
    const key = ['a', 'b', 'c'][Math.floor(rng.next() * 3)] ?? 'a';
    const value = (): string => `v${Math.floor(rng.next() * 3)}`;
    const roll = rng.next();
    if (roll < 0.4) return { kind: 'get', key };
    if (roll < 0.65) return { kind: 'put', key, value: value() };
    if (roll < 0.8) return { kind: 'delete', key };
    return { kind: 'cas', key, expected: rng.next() < 0.3 ? null : value(), next: value() };
  },
};

const simulationArbitrary = fc.record({
  seed: fc.integer(),
  clients: fc.integer({ min: 1, max: 6 }),
  steps: fc.integer({ min: 1, max: 160 }),
  unknownAfterEffect: fc.constantFrom(0, 0.05, 0.2),
  unknownBeforeEffect: fc.constantFrom(0, 0.05, 0.2),
  failBeforeEffect: fc.constantFrom(0, 0.05),
});

function simulate<S, I, O>(object: SequentialObject<S, I, O>, parameters: SimulationOptions & { seed: number }): { history: Operation<I, O>[]; rng: Rng } {
  const rng = seededRng(parameters.seed);
  return { history: simulateHistory(object, rng, parameters), rng };
}

/** Replaces the output of one completed read, chosen by `rng`, with `output`; false if none. */
function corruptOneRead<I, O>(history: Operation<I, O>[], rng: Rng, isRead: (input: I) => boolean, output: O): boolean {
  const reads = history.flatMap((operation, index) => (operation.outcome.kind === 'ok' && isRead(operation.input) ? [index] : []));
  const index = reads[Math.floor(rng.next() * reads.length)];
  const victim = index === undefined ? undefined : history[index];
  if (index === undefined || victim === undefined) return false;
  history[index] = { ...victim, outcome: { kind: 'ok', output } };
  return true;
}

describe('property: simulated executions', () => {
  const runs = { numRuns: propertyRuns };

  it('judges every simulated register history linearizable', () => {
    fc.assert(
      fc.property(simulationArbitrary, (parameters) => {
        const { history } = simulate(registerObject, parameters);
        const result = checkLinearizable(registerModel(), history, { timeoutMs: 10_000 });
        expect(result.verdict, result.report).toBe('linearizable');
      }),
      runs,
    );
  });

  it('judges every simulated PhantomDB key-value history linearizable', () => {
    fc.assert(
      fc.property(simulationArbitrary, (parameters) => {
        const { history } = simulate(phantomKvObject, parameters);
        const result = checkLinearizable(phantomKvModel(), history, { timeoutMs: 10_000 });
        expect(result.verdict, result.report).toBe('linearizable');
      }),
      runs,
    );
  });

  it('rejects a register history once a read returns a value never written', () => {
    fc.assert(
      fc.property(simulationArbitrary, (parameters) => {
        const { history, rng } = simulate(registerObject, parameters);
        const corrupted = corruptOneRead(history, rng, (input) => input.kind === 'read', { kind: 'read', value: neverWrittenNumber });
        fc.pre(corrupted);
        expect(checkLinearizable(registerModel(), history, { timeoutMs: 10_000 }).verdict).toBe('not-linearizable');
      }),
      runs,
    );
  });

  it('rejects a key-value history once a get returns a value never written', () => {
    fc.assert(
      fc.property(simulationArbitrary, (parameters) => {
        const { history, rng } = simulate(phantomKvObject, parameters);
        const corrupted = corruptOneRead(history, rng, (input) => input.kind === 'get', { kind: 'get', value: neverWrittenString });
        fc.pre(corrupted);
        expect(checkLinearizable(phantomKvModel(), history, { timeoutMs: 10_000 }).verdict).toBe('not-linearizable');
      }),
      runs,
    );
  });

  it('agrees with the key-value model on unpartitioned multi-key state', () => {
    // The model is also correct without partitioning (a state holding several keys).
    const { partition: _partition, ...unpartitioned }: Model<KeyValueState, PhantomKvInput, PhantomKvOutput> = phantomKvModel();
    fc.assert(
      fc.property(simulationArbitrary, (parameters) => {
        const { history } = simulate(phantomKvObject, { ...parameters, steps: Math.min(parameters.steps, 60) });
        expect(checkLinearizable(unpartitioned, history, { timeoutMs: 10_000 }).verdict).toBe('linearizable');
      }),
      { numRuns: Math.ceil(propertyRuns / 3) },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Differential property: the search agrees with brute force on small random histories

/**
 * The definition of linearizability, searched naively: pick any remaining operation that no
 * remaining operation precedes in real time, apply it, recurse; unknown-outcome operations may
 * be left out. Exponential, so only for a handful of operations.
 */
function bruteForceLinearizable<S extends ModelState, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): boolean {
  const remaining = new Set(history.keys());
  const search = (state: S): boolean => {
    const left = [...remaining];
    if (left.every((index) => history[index]?.outcome.kind === 'unknown')) return true;
    for (const index of left) {
      const operation = history[index];
      if (operation === undefined) continue;
      const preceded = left.some((other) => (history[other]?.returnMs ?? Infinity) < operation.callMs);
      if (preceded) continue;
      const next = model.step(state, operation.input, operation.outcome);
      if (next === undefined) continue;
      remaining.delete(index);
      const found = search(next);
      remaining.add(index);
      if (found) return true;
    }
    return false;
  };
  return search(model.init());
}

/** Random operation timing: small integer times so that ties and overlaps are common. */
function timedOperation<I, O>(input: I, output: O, timing: { call: number; duration: number; unknown: boolean; client: number }): Operation<I, O> {
  return timing.unknown
    ? unknownOp(timing.client, input, timing.call)
    : op(timing.client, input, timing.call, timing.call + timing.duration, output);
}

const timingArbitrary = fc.record({
  call: fc.integer({ min: 0, max: 12 }),
  duration: fc.integer({ min: 0, max: 6 }),
  unknown: fc.integer({ min: 0, max: 4 }).map((roll) => roll === 0),
  client: fc.integer({ min: 0, max: 3 }),
});

const registerValueArbitrary = fc.constantFrom<RegisterValue>(null, 0, 1, 2);
const randomRegisterOperation = fc.tuple(
  fc.oneof(
    registerValueArbitrary.map((value) => ({ input: { kind: 'read' } as const, output: { kind: 'read', value } as const })),
    registerValueArbitrary.map((value) => ({ input: { kind: 'write', value } as const, output: { kind: 'write' } as const })),
    fc.tuple(registerValueArbitrary, registerValueArbitrary, fc.boolean()).map(([expected, next, ok]) => ({
      input: { kind: 'cas', expected, next } as const,
      output: { kind: 'cas', ok } as const,
    })),
  ),
  timingArbitrary,
).map(([{ input, output }, timing]): RegisterOp => timedOperation<RegisterInput, RegisterOutput>(input, output, timing));

const keyArbitrary = fc.constantFrom('a', 'b');
const valueArbitrary = fc.constantFrom<string | null>(null, 'x', 'y');
const randomPhantomOperation = fc.tuple(
  fc.oneof(
    fc.tuple(keyArbitrary, valueArbitrary).map(([key, value]) => ({ input: { kind: 'get', key } as const, output: { kind: 'get', value } as const })),
    fc.tuple(keyArbitrary, fc.constantFrom('x', 'y')).map(([key, value]) => ({ input: { kind: 'put', key, value } as const, output: { kind: 'put' } as const })),
    keyArbitrary.map((key) => ({ input: { kind: 'delete', key } as const, output: { kind: 'delete' } as const })),
    fc.tuple(keyArbitrary, valueArbitrary, fc.constantFrom('x', 'y'), fc.boolean()).map(([key, expected, next, ok]) => ({
      input: { kind: 'cas', key, expected, next } as const,
      output: { kind: 'cas', ok } as const,
    })),
  ),
  timingArbitrary,
).map(([{ input, output }, timing]): PhantomOp => timedOperation<PhantomKvInput, PhantomKvOutput>(input, output, timing));

describe('property: agreement with brute force on random histories', () => {
  const runs = { numRuns: propertyRuns * 3 };

  it('register model', () => {
    fc.assert(
      fc.property(fc.array(randomRegisterOperation, { maxLength: 7 }), (history) => {
        const expected = bruteForceLinearizable(registerModel(), history) ? 'linearizable' : 'not-linearizable';
        expect(verdictOf(registerModel(), history)).toBe(expected);
      }),
      runs,
    );
  });

  it('PhantomDB key-value model, partitioned', () => {
    fc.assert(
      fc.property(fc.array(randomPhantomOperation, { maxLength: 8 }), (history) => {
        const expected = bruteForceLinearizable(phantomKvModel(), history) ? 'linearizable' : 'not-linearizable';
        expect(verdictOf(phantomKvModel(), history)).toBe(expected);
      }),
      runs,
    );
  });
});
