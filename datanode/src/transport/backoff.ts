/**
 * Reconnect delays: capped exponential backoff with jitter from an injected random source.
 */
import { assert } from '../assert.ts';

export interface Rng {
  /** A number in [0, 1). */
  next(): number;
}

export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  readonly backoffBaseMs: number;
  /** Largest delay before jitter; attempt counts beyond the cap stop growing the delay. */
  readonly backoffCapMs: number;
}

export function checkBackoffOptions(options: BackoffOptions): void {
  assert(options.backoffBaseMs > 0, 'backoffBaseMs is positive');
  assert(options.backoffCapMs >= options.backoffBaseMs, 'backoffCapMs is at least backoffBaseMs');
}

/**
 * The delay before retry number `attempt` (0 for the first retry): min(cap, base * 2^attempt),
 * of which the upper half is jittered ("equal jitter"), so peers that failed together do not
 * retry in lockstep yet the delay never collapses towards zero.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, rng: Rng): number {
  assert(Number.isInteger(attempt), 'attempt is an integer');
  assert(attempt >= 0, 'attempt is not negative');
  const exponential = options.backoffBaseMs * 2 ** Math.min(attempt, 30);
  const capped = Math.min(options.backoffCapMs, exponential);
  const jitter = rng.next();
  assert(jitter >= 0, 'rng yields [0, 1)');
  assert(jitter < 1, 'rng yields [0, 1)');
  return Math.round(capped / 2 + (capped / 2) * jitter);
}
