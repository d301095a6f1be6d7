/**
 * Generates histories that are linearizable by construction, for property tests of the checker.
 * Clients invoke operations concurrently; each operation takes effect atomically on one
 * sequential state at a random moment between its call and its return (its linearization
 * point), so the recorded history always has a valid linearization. Some operations time out
 * (unknown outcome) either before or after taking effect; lost ones may take effect much later.
 */
import { assert } from '../../datanode/src/assert.ts';
import type { Operation } from './checker.ts';
import { HistoryRecorder, type InvocationHandle } from './history.ts';

/** Uniform random numbers in [0, 1); injected so that runs replay from a seed. */
export interface Rng {
  next(): number;
}

/** A small seeded generator (mulberry32). */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return {
    next: () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** The real object being simulated: a pure sequential implementation. */
export interface SequentialObject<S, I, O> {
  readonly initial: S;
  apply(state: S, input: I): { readonly state: S; readonly output: O };
  randomInput(rng: Rng): I;
}

export interface SimulationOptions {
  readonly clients: number;
  /** Scheduler steps; each step invokes, applies or completes one operation. */
  readonly steps: number;
  /** Probability that a completed operation is reported as unknown (timeout after effect). */
  readonly unknownAfterEffect: number;
  /** Probability that a pending operation times out before it took effect. */
  readonly unknownBeforeEffect: number;
  /** Probability that a pending operation is rejected without effect (`fail`). */
  readonly failBeforeEffect: number;
}

interface Pending<I, O> {
  readonly handle: InvocationHandle;
  readonly input: I;
  /** Set once the operation took effect. */
  output?: { readonly value: O };
}

/** Runs the simulation and returns the recorded history (linearizable by construction). */
export function simulateHistory<S, I, O>(
  object: SequentialObject<S, I, O>,
  rng: Rng,
  options: SimulationOptions,
): Operation<I, O>[] {
  assert(options.clients > 0, 'at least one client');
  const recorder = new HistoryRecorder<I, O>();
  const pending = new Map<number, Pending<I, O>>();
  // Operations whose client gave up but that may still take effect later.
  const lost: I[] = [];
  let state = object.initial;
  const applyNow = (input: I): O => {
    const result = object.apply(state, input);
    state = result.state;
    return result.output;
  };
  for (let step = 0; step < options.steps; step++) {
    const client = Math.floor(rng.next() * options.clients);
    const invocation = pending.get(client);
    if (lost.length > 0 && rng.next() < 0.05) {
      const index = Math.floor(rng.next() * lost.length);
      const [input] = lost.splice(index, 1);
      if (input !== undefined) applyNow(input);
    } else if (invocation === undefined) {
      const input = object.randomInput(rng);
      pending.set(client, { handle: recorder.invoke(client, input), input });
    } else if (invocation.output === undefined) {
      const roll = rng.next();
      if (roll < options.unknownBeforeEffect) {
        recorder.unknown(invocation.handle);
        pending.delete(client);
        if (rng.next() < 0.5) lost.push(invocation.input);
      } else if (roll < options.unknownBeforeEffect + options.failBeforeEffect) {
        recorder.fail(invocation.handle);
        pending.delete(client);
      } else {
        invocation.output = { value: applyNow(invocation.input) };
      }
    } else {
      if (rng.next() < options.unknownAfterEffect) recorder.unknown(invocation.handle);
      else recorder.ok(invocation.handle, invocation.output.value);
      pending.delete(client);
    }
  }
  return recorder.toOperations();
}
