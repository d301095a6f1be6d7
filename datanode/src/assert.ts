/**
 * Assertions that stay on in production. A failed assertion means a broken invariant inside
 * PhantomDB (never a user's mistake), so it throws an AssertionError that callers must not catch.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws an AssertionError when `condition` is false. Keep conditions simple: one fact each. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a switch as exhaustive: the compiler rejects a call unless every case was handled. */
export function assertNever(value: never, what: string): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
