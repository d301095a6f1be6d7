/**
 * Sequential specifications for the linearizability checker: a register (the etcd Jepsen
 * histories), a get/put/append key-value map (the kv fixtures) and PhantomDB's replicated
 * key-value API (put, get, delete, compare-and-set). The key-value models partition histories by
 * key, so each key is checked on its own.
 */
import { assert, assertNever } from '../../datanode/src/assert.ts';
import type { Model, Operation, Outcome } from './checker.ts';

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** The output of `outcome` if it is known, after checking it answers an operation of `kind`. */
function knownOutput<O extends { readonly kind: string }>(outcome: Outcome<O>, kind: O['kind']): O | undefined {
  if (outcome.kind === 'unknown') return undefined;
  assert(outcome.output.kind === kind, `output of kind ${outcome.output.kind} answers a ${kind}`);
  return outcome.output;
}

/**
 * Splits a history into one sub-history per key, keeping the original order. Operations on
 * different keys commute, so a history is linearizable exactly when every per-key one is.
 */
export function partitionByKey<I extends { readonly key: string }, O>(
  history: readonly Operation<I, O>[],
): Operation<I, O>[][] {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const operation of history) {
    const group = byKey.get(operation.input.key);
    if (group === undefined) byKey.set(operation.input.key, [operation]);
    else group.push(operation);
  }
  return [...byKey.values()];
}

/**
 * An immutable map from key to value, as a list of pairs sorted by key. After partitioning a
 * state holds at most one key, so a list is both the simplest and the fastest representation.
 */
export type KeyValueState = readonly (readonly [string, string])[];

function lookup(state: KeyValueState, key: string): string | undefined {
  for (const [entryKey, value] of state) if (entryKey === key) return value;
  return undefined;
}

/** A copy of `state` with `key` set to `value`, or removed when `value` is undefined. */
function withKey(state: KeyValueState, key: string, value: string | undefined): KeyValueState {
  const entries = state.filter(([entryKey]) => entryKey !== key);
  if (value !== undefined) entries.push([key, value]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries;
}

/** An injective encoding: length-prefixed keys and values cannot run into each other. */
function hashKeyValueState(state: KeyValueState): string {
  let text = '';
  for (const [key, value] of state) text += `${key.length}:${key}${value.length}:${value}`;
  return text;
}

function describeKeyValueState(state: KeyValueState): string {
  if (state.length === 0) return '{}';
  return `{ ${state.map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`).join(', ')} }`;
}

function describeResult<O>(outcome: Outcome<O>, describeOutput: (output: O) => string): string {
  return outcome.kind === 'unknown' ? '? (unknown outcome)' : describeOutput(outcome.output);
}

// ---------------------------------------------------------------------------------------------
// Register with read, write and compare-and-set

/** A register value; `null` means absent (the initial value of the etcd histories). */
export type RegisterValue = number | string | null;

export type RegisterInput =
  | { readonly kind: 'read' }
  | { readonly kind: 'write'; readonly value: RegisterValue }
  | { readonly kind: 'cas'; readonly expected: RegisterValue; readonly next: RegisterValue };

export type RegisterOutput =
  | { readonly kind: 'read'; readonly value: RegisterValue }
  | { readonly kind: 'write' }
  | { readonly kind: 'cas'; readonly ok: boolean };

function stepRegister(state: RegisterValue, input: RegisterInput, outcome: Outcome<RegisterOutput>): RegisterValue | undefined {
  switch (input.kind) {
    case 'read': {
      const output = knownOutput(outcome, 'read');
      if (output === undefined) return state;
      assert(output.kind === 'read', 'read output');
      return output.value === state ? state : undefined;
    }
    case 'write':
      knownOutput(outcome, 'write');
      return input.value;
    case 'cas': {
      const matches = input.expected === state;
      const after = matches ? input.next : state;
      const output = knownOutput(outcome, 'cas');
      if (output === undefined) return after;
      assert(output.kind === 'cas', 'cas output');
      return output.ok === matches ? after : undefined;
    }
    default:
      return assertNever(input, 'register input');
  }
}

function hashRegisterValue(value: RegisterValue): string {
  if (value === null) return 'nil';
  return typeof value === 'number' ? `n${value}` : `s${value}`;
}

function describeRegisterValue(value: RegisterValue): string {
  return value === null ? 'nil' : JSON.stringify(value);
}

function describeRegisterOperation(input: RegisterInput, outcome: Outcome<RegisterOutput>): string {
  const result = describeResult(outcome, (output) => {
    switch (output.kind) {
      case 'read':
        return describeRegisterValue(output.value);
      case 'write':
        return 'ok';
      case 'cas':
        return output.ok ? 'ok' : 'fail';
      default:
        return assertNever(output, 'register output');
    }
  });
  switch (input.kind) {
    case 'read':
      return `read() -> ${result}`;
    case 'write':
      return `write(${describeRegisterValue(input.value)}) -> ${result}`;
    case 'cas':
      return `cas(${describeRegisterValue(input.expected)} -> ${describeRegisterValue(input.next)}) -> ${result}`;
    default:
      return assertNever(input, 'register input');
  }
}

/**
 * A single register: `read` returns the value, `write` sets it, `cas` sets `next` if the value
 * equals `expected` and answers ok, otherwise changes nothing and answers fail.
 */
export function registerModel(initial: RegisterValue = null): Model<RegisterValue, RegisterInput, RegisterOutput> {
  return {
    init: () => initial,
    step: stepRegister,
    hash: hashRegisterValue,
    describeOperation: describeRegisterOperation,
    describeState: describeRegisterValue,
  };
}

// ---------------------------------------------------------------------------------------------
// Key-value map with get, put and append (values default to "")

export type AppendKvInput =
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'append'; readonly key: string; readonly value: string };

export type AppendKvOutput =
  | { readonly kind: 'get'; readonly value: string }
  | { readonly kind: 'put' }
  | { readonly kind: 'append' };

function stepAppendKv(state: KeyValueState, input: AppendKvInput, outcome: Outcome<AppendKvOutput>): KeyValueState | undefined {
  const current = lookup(state, input.key) ?? '';
  switch (input.kind) {
    case 'get': {
      const output = knownOutput(outcome, 'get');
      if (output === undefined) return state;
      assert(output.kind === 'get', 'get output');
      return output.value === current ? state : undefined;
    }
    case 'put':
      knownOutput(outcome, 'put');
      // "" and absent are the same value here; keeping one form keeps hashes canonical.
      return withKey(state, input.key, input.value === '' ? undefined : input.value);
    case 'append': {
      knownOutput(outcome, 'append');
      const value = current + input.value;
      return withKey(state, input.key, value === '' ? undefined : value);
    }
    default:
      return assertNever(input, 'append-kv input');
  }
}

function describeAppendKvOperation(input: AppendKvInput, outcome: Outcome<AppendKvOutput>): string {
  const result = describeResult(outcome, (output) => (output.kind === 'get' ? JSON.stringify(output.value) : 'ok'));
  const key = JSON.stringify(input.key);
  switch (input.kind) {
    case 'get':
      return `get(${key}) -> ${result}`;
    case 'put':
      return `put(${key}, ${JSON.stringify(input.value)}) -> ${result}`;
    case 'append':
      return `append(${key}, ${JSON.stringify(input.value)}) -> ${result}`;
    default:
      return assertNever(input, 'append-kv input');
  }
}

/** A map from string keys to strings, every key initially "": get, put, append. By key. */
export function appendKvModel(): Model<KeyValueState, AppendKvInput, AppendKvOutput> {
  return {
    init: () => [],
    step: stepAppendKv,
    hash: hashKeyValueState,
    partition: partitionByKey,
    describeOperation: describeAppendKvOperation,
    describeState: describeKeyValueState,
  };
}

// ---------------------------------------------------------------------------------------------
// PhantomDB's replicated key-value API

export type PhantomKvInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string }
  /** Sets `next` if the current value equals `expected`; `expected: null` means "absent". */
  | { readonly kind: 'cas'; readonly key: string; readonly expected: string | null; readonly next: string };

export type PhantomKvOutput =
  | { readonly kind: 'put' }
  | { readonly kind: 'get'; readonly value: string | null }
  | { readonly kind: 'delete' }
  | { readonly kind: 'cas'; readonly ok: boolean };

function stepPhantomKv(state: KeyValueState, input: PhantomKvInput, outcome: Outcome<PhantomKvOutput>): KeyValueState | undefined {
  const current = lookup(state, input.key) ?? null;
  switch (input.kind) {
    case 'put':
      knownOutput(outcome, 'put');
      return withKey(state, input.key, input.value);
    case 'get': {
      const output = knownOutput(outcome, 'get');
      if (output === undefined) return state;
      assert(output.kind === 'get', 'get output');
      return output.value === current ? state : undefined;
    }
    case 'delete':
      knownOutput(outcome, 'delete');
      return current === null ? state : withKey(state, input.key, undefined);
    case 'cas': {
      const matches = input.expected === current;
      const after = matches ? withKey(state, input.key, input.next) : state;
      const output = knownOutput(outcome, 'cas');
      if (output === undefined) return after;
      assert(output.kind === 'cas', 'cas output');
      return output.ok === matches ? after : undefined;
    }
    default:
      return assertNever(input, 'phantom-kv input');
  }
}

function describeNullable(value: string | null): string {
  return value === null ? 'null' : JSON.stringify(value);
}

function describePhantomKvOperation(input: PhantomKvInput, outcome: Outcome<PhantomKvOutput>): string {
  const result = describeResult(outcome, (output) => {
    switch (output.kind) {
      case 'get':
        return describeNullable(output.value);
      case 'cas':
        return String(output.ok);
      case 'put':
      case 'delete':
        return 'ok';
      default:
        return assertNever(output, 'phantom-kv output');
    }
  });
  const key = JSON.stringify(input.key);
  switch (input.kind) {
    case 'put':
      return `put(${key}, ${JSON.stringify(input.value)}) -> ${result}`;
    case 'get':
      return `get(${key}) -> ${result}`;
    case 'delete':
      return `delete(${key}) -> ${result}`;
    case 'cas':
      return `cas(${key}, ${describeNullable(input.expected)} -> ${JSON.stringify(input.next)}) -> ${result}`;
    default:
      return assertNever(input, 'phantom-kv input');
  }
}

/**
 * PhantomDB's replicated map: `get` answers null for an absent key, `delete` removes a key,
 * `cas(key, expected, next)` answers true and sets `next` iff the value equals `expected`
 * (null: the key is absent). Partitioned by key.
 */
export function phantomKvModel(): Model<KeyValueState, PhantomKvInput, PhantomKvOutput> {
  return {
    init: () => [],
    step: stepPhantomKv,
    hash: hashKeyValueState,
    partition: partitionByKey,
    describeOperation: describePhantomKvOperation,
    describeState: describeKeyValueState,
  };
}
