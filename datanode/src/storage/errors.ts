import { PhantomError } from '../errors.ts';

/** Base class of the storage engine's expected failures. */
export abstract class StorageError extends PhantomError {}

/**
 * A checksum or format check failed. `file` and `offset` say where; the data is never returned.
 */
export class CorruptionError extends StorageError {
  readonly code = 'PH_CORRUPTION';
  override readonly name = 'CorruptionError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`corruption in ${file} at offset ${offset}: ${detail}`);
  }
}

/** A file system call failed; `cause` is the original Node.js error (with its errno code). */
export class StorageIOError extends StorageError {
  readonly code = 'PH_IO';
  override readonly name = 'StorageIOError';
  constructor(
    readonly operation: string,
    readonly file: string,
    cause: unknown,
  ) {
    super(`${operation} ${file} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The engine refuses writes because an earlier write or fsync failed; `reason` says which. */
export class ReadOnlyError extends StorageError {
  readonly code = 'PH_READ_ONLY';
  override readonly name = 'ReadOnlyError';
  constructor(readonly reason: string) {
    super(`storage engine is read-only after an earlier failure: ${reason}`);
  }
}

export class ClosedError extends StorageError {
  readonly code = 'PH_CLOSED';
  override readonly name = 'ClosedError';
  constructor(what: string) {
    super(`${what} is closed`);
  }
}

export class InvalidOptionsError extends StorageError {
  readonly code = 'PH_INVALID_OPTIONS';
  override readonly name = 'InvalidOptionsError';
}

export class InvalidArgumentError extends StorageError {
  readonly code = 'PH_INVALID_ARGUMENT';
  override readonly name = 'InvalidArgumentError';
}

export class LockedError extends StorageError {
  readonly code = 'PH_LOCKED';
  override readonly name = 'LockedError';
}

export class WriteStallTimeoutError extends StorageError {
  readonly code = 'PH_WRITE_STALL_TIMEOUT';
  override readonly name = 'WriteStallTimeoutError';
}
