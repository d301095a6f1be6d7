/** The backup subsystem's expected failures. Each names the object or field it is about. */
import { PhantomError } from '../errors.ts';

/** Base class of backup failures. */
export abstract class BackupError extends PhantomError {}

/** An object a manifest names is not at the destination. */
export class BackupObjectMissingError extends BackupError {
  readonly code = 'PH_BACKUP_OBJECT_MISSING';
  override readonly name = 'BackupObjectMissingError';
  constructor(readonly objectKey: string) {
    super(`backup object ${objectKey} is missing from the destination`);
  }
}

/** An object's size or SHA-256 differs from what its manifest recorded. */
export class BackupObjectCorruptError extends BackupError {
  readonly code = 'PH_BACKUP_OBJECT_CORRUPT';
  override readonly name = 'BackupObjectCorruptError';
  constructor(
    readonly objectKey: string,
    readonly detail: string,
  ) {
    super(`backup object ${objectKey} is corrupt: ${detail}`);
  }
}

/** An exclusive write found an object at its key already (another writer created it first). */
export class BackupObjectExistsError extends BackupError {
  readonly code = 'PH_BACKUP_OBJECT_EXISTS';
  override readonly name = 'BackupObjectExistsError';
  constructor(readonly objectKey: string) {
    super(`backup object ${objectKey} exists already (another writer created it first)`);
  }
}

/** A manifest is missing, not JSON, of an unknown format version, or fails validation. */
export class BackupManifestInvalidError extends BackupError {
  readonly code = 'PH_BACKUP_MANIFEST_INVALID';
  override readonly name = 'BackupManifestInvalidError';
  constructor(
    readonly objectKey: string,
    readonly detail: string,
  ) {
    super(`backup manifest ${objectKey} is invalid: ${detail}`);
  }
}

/** An incremental chain does not link up. */
export class BackupChainBrokenError extends BackupError {
  readonly code = 'PH_BACKUP_CHAIN_BROKEN';
  override readonly name = 'BackupChainBrokenError';
}
