/**
 * A linearizability checker for histories of concurrent operations.
 *
 * The search follows Wing & Gong (1993) as refined by Lowe ("Testing for linearizability", 2017):
 * call and return events sit in one doubly linked list ordered by time; the search repeatedly
 * takes the earliest call it can apply to the model, lifts that operation out of the list and
 * restarts from the front; reaching a return event means an operation that has already returned
 * was never linearized, so the search backtracks. Lowe's memoization keeps a set of
 * (linearized operations, model state) pairs already explored, which prunes the search from
 * factorial to (at most) exponential in the number of concurrent operations, and in practice far
 * less. P-compositionality (Horn & Kroening) lets a model split a history into independent
 * sub-histories, for example one per key, which are checked one at a time.
 *
 * Operations whose outcome is unknown (a timeout, a crash) never return: they may take effect at
 * any point after their call, or not at all. They have no return event, so the search may leave
 * them out of a linearization, which stands for "did not happen".
 */
import { assert, AssertionError } from '../../datanode/src/assert.ts';

/** Who issued an operation: a client, a Jepsen process, a connection. */
export type ClientId = number | string;

/** What the caller saw: an output, or nothing because the request timed out or the client died. */
export type Outcome<O> =
  | { readonly kind: 'ok'; readonly output: O }
  | { readonly kind: 'unknown' };

/**
 * One operation of a history. `callMs` is when it was invoked and `returnMs` when its response
 * arrived; an operation with an unknown outcome has `returnMs` = +Infinity. Times only need to be
 * comparable (a counter works as well as milliseconds).
 */
export interface Operation<I, O> {
  readonly clientId: ClientId;
  readonly input: I;
  readonly callMs: number;
  readonly returnMs: number;
  readonly outcome: Outcome<O>;
}

/** Model states are any value except `undefined`, which `Model.step` uses to say "not allowed". */
export type ModelState = NonNullable<unknown> | null;

/**
 * A sequential specification of the object under test. `step` must be pure (states are values;
 * never mutate the state passed in).
 */
export interface Model<S extends ModelState, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * The state after applying `input` to `state`, or `undefined` when the operation could not
   * have produced `outcome` in `state`. For an unknown outcome it must return the state the
   * operation would leave (it does not fail: not happening at all is expressed by the checker
   * leaving the operation out).
   */
  step(state: S, input: I, outcome: Outcome<O>): S | undefined;
  /**
   * A string identifying the state. Equal states must have equal hashes; when `equal` is absent
   * different states must have different hashes.
   */
  hash(state: S): string;
  /** Exact equality, for models whose `hash` may collide. */
  equal?(a: S, b: S): boolean;
  /** Splits a history into sub-histories that can be checked independently (e.g. per key). */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** Human-readable forms for reports. */
  describeOperation?(input: I, outcome: Outcome<O>): string;
  describeState?(state: S): string;
}

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';

/** Time source for the timeout; injected so that tests can drive it. */
export interface CheckClock {
  nowMs(): number;
}

export interface CheckOptions {
  /** Give up with verdict 'unknown' after this long over all partitions. Default 60 s. */
  readonly timeoutMs?: number;
  /** Give up with verdict 'unknown' once this many (operations, state) pairs were memoized. */
  readonly visitedStatesMax?: number;
  readonly clock?: CheckClock;
}

/** One step of a linearization: the operation and the model state right after it. */
export interface LinearizedStep<S, I, O> {
  readonly operation: Operation<I, O>;
  readonly stateAfter: S;
}

export interface PartitionResult<S, I, O> {
  /** Position of this sub-history in the model's partition (0 when not partitioned). */
  readonly partitionIndex: number;
  readonly verdict: Verdict;
  readonly unknownReason?: 'timeout' | 'visited-states-limit';
  readonly operationCount: number;
  readonly elapsedMs: number;
  /** (operations, state) pairs memoized; a measure of the work done. */
  readonly visitedStates: number;
  /**
   * For 'linearizable': a witness order of the operations that took effect. Otherwise the
   * longest linearizable prefix the search found.
   */
  readonly linearization: readonly LinearizedStep<S, I, O>[];
  /** For a failure: the state after the longest prefix. */
  readonly stateAtDeadEnd?: S;
  /**
   * For a failure: the operation that had returned at the end of the longest prefix but could not
   * be linearized next, and the operations that were tried in its place.
   */
  readonly blockedOperation?: Operation<I, O>;
  readonly candidatesTried?: readonly Operation<I, O>[];
}

export interface CheckResult<S, I, O> {
  readonly verdict: Verdict;
  readonly elapsedMs: number;
  readonly partitionCount: number;
  /** Partitions in the order checked (smallest first); checking stops at the first failure. */
  readonly partitions: readonly PartitionResult<S, I, O>[];
  /** The partition that decided a 'not-linearizable' or 'unknown' verdict. */
  readonly failure?: PartitionResult<S, I, O>;
  /** A printable explanation of the verdict. */
  readonly report: string;
}

const defaultTimeoutMs = 60_000;
const defaultVisitedStatesMax = 20_000_000;
/** The deadline is read every this many search steps (a power of two, minus one, as a mask). */
const deadlineCheckMask = 1023;
const systemClock: CheckClock = { nowMs: () => performance.now() };

/**
 * Decides whether `history` is linearizable with respect to `model`. Returns 'unknown' when the
 * time or memory limit ran out before the search finished. Never throws for a non-linearizable
 * history; throws an AssertionError for a malformed one (a return before its call, an unknown
 * outcome with a finite return time).
 */
export function checkLinearizable<S extends ModelState, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<S, I, O> {
  const clock = options.clock ?? systemClock;
  const startMs = clock.nowMs();
  const deadlineMs = startMs + (options.timeoutMs ?? defaultTimeoutMs);
  const visitedStatesMax = options.visitedStatesMax ?? defaultVisitedStatesMax;
  for (const operation of history) validateOperation(operation);

  const subHistories = model.partition ? model.partition(history) : [history.slice()];
  // Small partitions first: they finish fast and may already prove a violation.
  const order = subHistories.map((_, index) => index);
  order.sort((a, b) => (subHistories[a]?.length ?? 0) - (subHistories[b]?.length ?? 0));

  const partitions: PartitionResult<S, I, O>[] = [];
  let failure: PartitionResult<S, I, O> | undefined;
  for (const partitionIndex of order) {
    const operations = subHistories[partitionIndex] ?? [];
    const result = searchPartition(model, operations, partitionIndex, {
      clock,
      deadlineMs,
      visitedStatesMax,
    });
    partitions.push(result);
    if (result.verdict === 'not-linearizable') {
      failure = result;
      break;
    }
    if (result.verdict === 'unknown' && failure === undefined) failure = result;
  }
  const verdict: Verdict = failure === undefined ? 'linearizable' : failure.verdict;
  const base = {
    verdict,
    elapsedMs: clock.nowMs() - startMs,
    partitionCount: subHistories.length,
    partitions,
  };
  const report = formatReport(model, base, failure);
  return failure === undefined ? { ...base, report } : { ...base, failure, report };
}

function validateOperation<I, O>(operation: Operation<I, O>): void {
  assert(Number.isFinite(operation.callMs), 'an operation must have a finite call time');
  if (operation.outcome.kind === 'unknown') {
    assert(operation.returnMs === Infinity, 'an unknown-outcome operation never returns');
  } else {
    assert(Number.isFinite(operation.returnMs), 'a completed operation has a finite return time');
    assert(operation.callMs <= operation.returnMs, 'an operation returns after its call');
  }
}

interface SearchLimits {
  readonly clock: CheckClock;
  readonly deadlineMs: number;
  readonly visitedStatesMax: number;
}

/**
 * The events as two doubly linked lists over parallel typed arrays: the main list holds the
 * calls and returns of completed operations, the unknown list the calls of operations with an
 * unknown outcome (they have no return). Entry numbers follow time order, so comparing two
 * entries compares their times.
 */
interface EventList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** Operation index of each entry. */
  readonly operationOf: Int32Array;
  /** 1 for a call entry, 0 for a return entry. */
  readonly isCall: Uint8Array;
  /** Return entry of each operation, or `noEntry` for an unknown outcome. */
  readonly returnEntryOf: Int32Array;
}

const mainHead = 0;
const unknownHead = 1;
const firstEventEntry = 2;
const noEntry = -1;

function readInt(array: Int32Array, index: number): number {
  const value = array[index];
  if (value === undefined) throw new AssertionError(`event list index ${index} out of range`);
  return value;
}

function buildEventList<I, O>(operations: readonly Operation<I, O>[]): EventList {
  const events: { time: number; isCall: boolean; operation: number }[] = [];
  operations.forEach((operation, index) => {
    events.push({ time: operation.callMs, isCall: true, operation: index });
    if (operation.outcome.kind === 'ok') {
      events.push({ time: operation.returnMs, isCall: false, operation: index });
    }
  });
  // At equal times calls go first: touching operations count as concurrent, which only ever
  // allows more orders (the safe side when clocks are coarse).
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall));
  const size = events.length + firstEventEntry;
  const list: EventList = {
    next: new Int32Array(size).fill(noEntry),
    prev: new Int32Array(size).fill(noEntry),
    operationOf: new Int32Array(size).fill(-1),
    isCall: new Uint8Array(size),
    returnEntryOf: new Int32Array(operations.length).fill(noEntry),
  };
  const tails = [mainHead, unknownHead];
  events.forEach((event, index) => {
    const entry = index + firstEventEntry;
    list.operationOf[entry] = event.operation;
    list.isCall[entry] = event.isCall ? 1 : 0;
    if (!event.isCall) list.returnEntryOf[event.operation] = entry;
    const listIndex = operations[event.operation]?.outcome.kind === 'ok' ? 0 : 1;
    const tail = tails[listIndex] ?? mainHead;
    list.next[tail] = entry;
    list.prev[entry] = tail;
    tails[listIndex] = entry;
  });
  return list;
}

function unlinkEntry(list: EventList, entry: number): void {
  const before = readInt(list.prev, entry);
  const after = readInt(list.next, entry);
  list.next[before] = after;
  if (after !== noEntry) list.prev[after] = before;
}

/** Undoes `unlinkEntry`; entries must be relinked in the reverse order of unlinking. */
function relinkEntry(list: EventList, entry: number): void {
  const before = readInt(list.prev, entry);
  const after = readInt(list.next, entry);
  list.next[before] = entry;
  if (after !== noEntry) list.prev[after] = entry;
}

/** Removes an operation (its call and, if any, its return) from the lists. */
function liftOperation(list: EventList, callEntry: number): void {
  unlinkEntry(list, callEntry);
  const returnEntry = readInt(list.returnEntryOf, readInt(list.operationOf, callEntry));
  if (returnEntry !== noEntry) unlinkEntry(list, returnEntry);
}

function unliftOperation(list: EventList, callEntry: number): void {
  const returnEntry = readInt(list.returnEntryOf, readInt(list.operationOf, callEntry));
  if (returnEntry !== noEntry) relinkEntry(list, returnEntry);
  relinkEntry(list, callEntry);
}

/**
 * The set of linearized operations: completed ones and unknown-outcome ones in separate bitsets,
 * plus a Zobrist hash of the completed ones.
 */
class LinearizedSet {
  readonly known: Uint32Array;
  readonly unknown: Uint32Array;
  knownHash = 0;
  private readonly bitOf: Int32Array;
  private readonly isKnown: Uint8Array;
  private readonly zobrist: Int32Array;

  constructor(operations: readonly Operation<unknown, unknown>[]) {
    this.bitOf = new Int32Array(operations.length);
    this.isKnown = new Uint8Array(operations.length);
    let knownCount = 0;
    let unknownCount = 0;
    operations.forEach((operation, index) => {
      const known = operation.outcome.kind === 'ok';
      this.isKnown[index] = known ? 1 : 0;
      this.bitOf[index] = known ? knownCount++ : unknownCount++;
    });
    this.known = new Uint32Array(Math.ceil(knownCount / 32));
    this.unknown = new Uint32Array(Math.ceil(unknownCount / 32));
    this.zobrist = zobristKeys(operations.length);
  }

  /** Adds or removes operation `index` (the same call toggles either way). */
  toggle(index: number): void {
    const bit = readInt(this.bitOf, index);
    const words = this.isKnown[index] === 1 ? this.known : this.unknown;
    const word = bit >>> 5;
    words[word] = (words[word] ?? 0) ^ (1 << (bit & 31));
    if (this.isKnown[index] === 1) this.knownHash ^= readInt(this.zobrist, index);
  }
}

/** Deterministic 31-bit pseudo-random values for Zobrist hashing (xorshift32). */
function zobristKeys(count: number): Int32Array {
  const keys = new Int32Array(count);
  let x = 0x9e3779b9 | 0;
  for (let index = 0; index < count; index++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    keys[index] = x & 0x7fffffff;
  }
  return keys;
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let word = 0; word < a.length; word++) if (a[word] !== b[word]) return false;
  return true;
}

function isSubset(small: Uint32Array, large: Uint32Array): boolean {
  for (let word = 0; word < small.length; word++) {
    const bits = small[word] ?? 0;
    if ((bits & (large[word] ?? 0)) !== bits) return false;
  }
  return true;
}

interface VisitedEntry<S> {
  readonly known: Uint32Array;
  readonly unknown: Uint32Array;
  readonly state: S;
}

/**
 * The memo of explored configurations (linearized set, model state), keyed by the state's hash
 * and then by the Zobrist hash of the completed operations; buckets compare exactly.
 *
 * Beyond Lowe's exact memo it prunes dominated configurations: with the same state and the same
 * completed operations linearized, having linearized fewer unknown-outcome operations is never
 * worse, because those never have to be linearized and stay available. So a configuration is
 * skipped when an explored one differs only by a subset of its unknown-outcome operations.
 * Without this, histories with many timeouts explore every subset of them.
 */
class VisitedSet<S extends ModelState> {
  private readonly byState = new Map<string, Map<number, VisitedEntry<S>[]>>();
  /** Configurations added (a measure of work; dominated entries are dropped but still counted). */
  size = 0;

  constructor(private readonly equal: ((a: S, b: S) => boolean) | undefined) {}

  /** Adds the configuration; returns false when it is already present or dominated. */
  add(stateHash: string, state: S, set: LinearizedSet): boolean {
    let bySet = this.byState.get(stateHash);
    if (bySet === undefined) {
      bySet = new Map();
      this.byState.set(stateHash, bySet);
    }
    const bucket = bySet.get(set.knownHash);
    if (bucket === undefined) {
      bySet.set(set.knownHash, [this.snapshot(set, state)]);
      this.size++;
      return true;
    }
    let dominated = 0;
    for (const seen of bucket) {
      if (!sameBits(seen.known, set.known)) continue;
      if (this.equal !== undefined && !this.equal(seen.state, state)) continue;
      if (isSubset(seen.unknown, set.unknown)) return false;
      if (isSubset(set.unknown, seen.unknown)) dominated++;
    }
    // Keep buckets minimal: entries the new one dominates can go.
    const kept = dominated === 0 ? bucket : bucket.filter((seen) => !this.dominates(set, state, seen));
    kept.push(this.snapshot(set, state));
    if (kept !== bucket) bySet.set(set.knownHash, kept);
    this.size++;
    return true;
  }

  private snapshot(set: LinearizedSet, state: S): VisitedEntry<S> {
    // Most histories have no unknown-outcome operations: share one empty set for them.
    const unknown = set.unknown.length === 0 ? set.unknown : set.unknown.slice();
    return { known: set.known.slice(), unknown, state };
  }

  private dominates(set: LinearizedSet, state: S, seen: VisitedEntry<S>): boolean {
    if (!sameBits(seen.known, set.known)) return false;
    if (this.equal !== undefined && !this.equal(seen.state, state)) return false;
    return isSubset(set.unknown, seen.unknown);
  }
}

/** The search's stack: linearized call entries, with the state and barrier before each. */
interface SearchStack<S> {
  readonly entries: number[];
  readonly statesBefore: S[];
  readonly barriersBefore: number[];
}

interface DeadEnd<S> {
  readonly prefixOperations: number[];
  readonly prefixStates: S[];
  readonly state: S;
  readonly blockedOperation: number;
  readonly candidates: number[];
}

/** The calls that could be linearized before `barrier` (a return entry), for diagnostics. */
function callsBefore(list: EventList, barrier: number): number[] {
  const calls: number[] = [];
  for (let entry = readInt(list.next, mainHead); entry !== barrier && entry !== noEntry; entry = readInt(list.next, entry)) {
    calls.push(readInt(list.operationOf, entry));
  }
  for (let entry = readInt(list.next, unknownHead); entry !== noEntry && entry < barrier; entry = readInt(list.next, entry)) {
    calls.push(readInt(list.operationOf, entry));
  }
  return calls;
}

function recordDeadEnd<S>(list: EventList, stack: SearchStack<S>, state: S, barrier: number): DeadEnd<S> {
  const prefixStates = stack.statesBefore.slice(1);
  prefixStates.push(state);
  return {
    prefixOperations: stack.entries.map((entry) => readInt(list.operationOf, entry)),
    prefixStates,
    state,
    blockedOperation: readInt(list.operationOf, barrier),
    candidates: callsBefore(list, barrier),
  };
}

/**
 * Where the search stands: the entry to try next (`candidate`, or `noEntry` for a dead end) and
 * the first return entry of the main list (`barrier`): only calls before it may go next. Calls of
 * completed operations are tried first, then unknown-outcome calls, so that configurations with
 * few unknown operations are explored first and dominate the rest.
 */
class Cursor {
  candidate = noEntry;
  barrier = noEntry;

  constructor(private readonly list: EventList) {}

  /** Continues at `entry` of the main list (a call or a return). */
  scanMain(entry: number): void {
    assert(entry !== noEntry, 'the main list ended before the return of a pending operation');
    if (this.list.isCall[entry] === 1) {
      this.candidate = entry;
      return;
    }
    this.barrier = entry;
    this.scanUnknown(readInt(this.list.next, unknownHead));
  }

  /** Continues at `entry` of the unknown list, up to the barrier. */
  scanUnknown(entry: number): void {
    this.candidate = entry !== noEntry && entry < this.barrier ? entry : noEntry;
  }

  /** Moves past the current candidate. */
  advance(): void {
    const after = readInt(this.list.next, this.candidate);
    if (this.list.returnEntryOf[readInt(this.list.operationOf, this.candidate)] === noEntry) this.scanUnknown(after);
    else this.scanMain(after);
  }
}

/** The Wing–Gong–Lowe search over one sub-history. */
function searchPartition<S extends ModelState, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  partitionIndex: number,
  limits: SearchLimits,
): PartitionResult<S, I, O> {
  const startMs = limits.clock.nowMs();
  const list = buildEventList(operations);
  const linearized = new LinearizedSet(operations);
  const visited = new VisitedSet<S>(model.equal?.bind(model));
  const stack: SearchStack<S> = { entries: [], statesBefore: [], barriersBefore: [] };
  const cursor = new Cursor(list);
  let knownLeft = operations.filter((operation) => operation.outcome.kind === 'ok').length;
  let state = model.init();
  let deadEnd: DeadEnd<S> | undefined;

  const finish = (verdict: Verdict, unknownReason?: 'timeout' | 'visited-states-limit') =>
    buildPartitionResult(operations, partitionIndex, verdict, unknownReason, {
      elapsedMs: limits.clock.nowMs() - startMs,
      visitedStates: visited.size,
      stack,
      list,
      state,
      deadEnd,
    });

  if (knownLeft > 0) cursor.scanMain(readInt(list.next, mainHead));
  for (let iteration = 0; ; iteration++) {
    // Every operation that returned is linearized; the rest never returned and may be left out.
    if (knownLeft === 0) return finish('linearizable');
    if ((iteration & deadlineCheckMask) === 0 && limits.clock.nowMs() > limits.deadlineMs) {
      return finish('unknown', 'timeout');
    }
    if (visited.size >= limits.visitedStatesMax) return finish('unknown', 'visited-states-limit');
    const entry = cursor.candidate;
    if (entry === noEntry) {
      // The barrier's operation returned without being linearized: backtrack.
      if (deadEnd === undefined || stack.entries.length > deadEnd.prefixOperations.length) {
        deadEnd = recordDeadEnd(list, stack, state, cursor.barrier);
      }
      const callEntry = stack.entries.pop();
      const stateBefore = stack.statesBefore.pop();
      const barrierBefore = stack.barriersBefore.pop();
      if (callEntry === undefined || stateBefore === undefined || barrierBefore === undefined) {
        return finish('not-linearizable');
      }
      const undone = readInt(list.operationOf, callEntry);
      linearized.toggle(undone);
      state = stateBefore;
      unliftOperation(list, callEntry);
      cursor.barrier = barrierBefore;
      cursor.candidate = callEntry;
      if (operations[undone]?.outcome.kind === 'ok') knownLeft++;
      cursor.advance();
      continue;
    }
    const operationIndex = readInt(list.operationOf, entry);
    const operation = operations[operationIndex];
    assert(operation !== undefined, 'call entry without an operation');
    const nextState = model.step(state, operation.input, operation.outcome);
    if (nextState !== undefined) {
      linearized.toggle(operationIndex);
      if (visited.add(model.hash(nextState), nextState, linearized)) {
        stack.entries.push(entry);
        stack.statesBefore.push(state);
        stack.barriersBefore.push(cursor.barrier);
        state = nextState;
        liftOperation(list, entry);
        if (operation.outcome.kind === 'ok') knownLeft--;
        if (knownLeft > 0) cursor.scanMain(readInt(list.next, mainHead));
        continue;
      }
      linearized.toggle(operationIndex);
    }
    cursor.advance();
  }
}

interface SearchSnapshot<S> {
  readonly elapsedMs: number;
  readonly visitedStates: number;
  readonly stack: SearchStack<S>;
  readonly list: EventList;
  readonly state: S;
  readonly deadEnd: DeadEnd<S> | undefined;
}

function buildPartitionResult<S extends ModelState, I, O>(
  operations: readonly Operation<I, O>[],
  partitionIndex: number,
  verdict: Verdict,
  unknownReason: 'timeout' | 'visited-states-limit' | undefined,
  snapshot: SearchSnapshot<S>,
): PartitionResult<S, I, O> {
  const operationAt = (index: number): Operation<I, O> => {
    const operation = operations[index];
    assert(operation !== undefined, `operation ${index} out of range`);
    return operation;
  };
  const base = {
    partitionIndex,
    verdict,
    operationCount: operations.length,
    elapsedMs: snapshot.elapsedMs,
    visitedStates: snapshot.visitedStates,
  };
  const deadEnd = snapshot.deadEnd;
  if (verdict === 'linearizable' || deadEnd === undefined) {
    const states = snapshot.stack.statesBefore.slice(1);
    states.push(snapshot.state);
    const linearization = snapshot.stack.entries.map((entry, position) => ({
      operation: operationAt(readInt(snapshot.list.operationOf, entry)),
      stateAfter: states[position] ?? snapshot.state,
    }));
    const withReason = unknownReason === undefined ? base : { ...base, unknownReason };
    return { ...withReason, linearization };
  }
  const linearization = deadEnd.prefixOperations.map((index, position) => ({
    operation: operationAt(index),
    stateAfter: deadEnd.prefixStates[position] ?? deadEnd.state,
  }));
  const failure = {
    ...base,
    linearization,
    stateAtDeadEnd: deadEnd.state,
    blockedOperation: operationAt(deadEnd.blockedOperation),
    candidatesTried: deadEnd.candidates.map(operationAt),
  };
  return unknownReason === undefined ? failure : { ...failure, unknownReason };
}

/** How many steps of the longest prefix a report shows (the last ones). */
const reportPrefixStepsMax = 15;
const reportCandidatesMax = 15;

function formatTime(ms: number): string {
  return ms === Infinity ? '∞' : String(ms);
}

/** One line describing an operation, for reports. */
export function describeOperation<S extends ModelState, I, O>(model: Model<S, I, O>, operation: Operation<I, O>): string {
  const text = model.describeOperation
    ? model.describeOperation(operation.input, operation.outcome)
    : `${JSON.stringify(operation.input)} -> ${operation.outcome.kind === 'ok' ? JSON.stringify(operation.outcome.output) : '?'}`;
  return `client ${String(operation.clientId)}: ${text}  [${formatTime(operation.callMs)}, ${formatTime(operation.returnMs)}]`;
}

function describeState<S extends ModelState, I, O>(model: Model<S, I, O>, state: S): string {
  return model.describeState ? model.describeState(state) : model.hash(state);
}

function formatReport<S extends ModelState, I, O>(
  model: Model<S, I, O>,
  summary: { verdict: Verdict; elapsedMs: number; partitionCount: number },
  failure: PartitionResult<S, I, O> | undefined,
): string {
  const lines = [
    `${summary.verdict} (${summary.partitionCount} partition(s), ${summary.elapsedMs.toFixed(0)} ms)`,
  ];
  if (failure === undefined) return lines[0] ?? '';
  const reason = failure.unknownReason === undefined ? '' : ` — gave up: ${failure.unknownReason}`;
  lines.push(
    `partition ${failure.partitionIndex}: ${failure.operationCount} operations, ` +
      `${failure.visitedStates} states visited${reason}`,
  );
  const prefix = failure.linearization;
  lines.push(`longest linearizable prefix found: ${prefix.length} operation(s)`);
  const shownFrom = Math.max(0, prefix.length - reportPrefixStepsMax);
  if (shownFrom > 0) lines.push(`  ... ${shownFrom} earlier operation(s) omitted`);
  prefix.slice(shownFrom).forEach((step, offset) => {
    lines.push(`  ${shownFrom + offset + 1}. ${describeOperation(model, step.operation)}`);
    lines.push(`       state: ${describeState(model, step.stateAfter)}`);
  });
  if (failure.blockedOperation !== undefined && failure.stateAtDeadEnd !== undefined) {
    lines.push(`state at the dead end: ${describeState(model, failure.stateAtDeadEnd)}`);
    lines.push(`could not linearize (it had returned): ${describeOperation(model, failure.blockedOperation)}`);
    const candidates = failure.candidatesTried ?? [];
    lines.push(`operations tried at that point (${candidates.length}):`);
    for (const candidate of candidates.slice(0, reportCandidatesMax)) {
      lines.push(`  - ${describeOperation(model, candidate)}`);
    }
    if (candidates.length > reportCandidatesMax) lines.push(`  ... ${candidates.length - reportCandidatesMax} more`);
  }
  return lines.join('\n');
}
