/**
 * Expected failures about versions: a binary that cannot run the cluster's version, data in a
 * format of a newer build, a finalization that is not safe yet. Codes are registered in
 * datanode/src/errors.ts and documented in docs/errors.md.
 */
import { PhantomError } from '../errors.ts';

export type VersionErrorCode = 'PH_CLUSTER_VERSION_UNSUPPORTED' | 'PH_FORMAT_UNSUPPORTED' | 'PH_FINALIZE_REFUSED';

export class VersionError extends PhantomError {
  override readonly name = 'VersionError';
  constructor(
    readonly code: VersionErrorCode,
    message: string,
  ) {
    super(message);
  }
}
