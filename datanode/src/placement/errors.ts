/**
 * Expected failures of the placement layer, each with a registered code (datanode/src/errors.ts,
 * docs/errors.md). Callers branch on `code`, never on message text.
 */
import { PhantomError } from '../errors.ts';

export type PlacementErrorCode =
  /** A stored liveness record failed validation (malformed, unknown version, too large). */
  | 'PH_CORRUPTION'
  /** Liveness thresholds or driver limits failed validation. */
  | 'PH_INVALID_OPTIONS'
  /** A move did not finish within its timeout (after its retries). */
  | 'PH_DEADLINE_EXCEEDED'
  /** The driver lost the meta range's leadership; its moves were cancelled. */
  | 'PH_NOT_LEADER';

export class PlacementError extends PhantomError {
  override readonly name = 'PlacementError';
  constructor(
    readonly code: PlacementErrorCode,
    message: string,
  ) {
    super(message);
  }
}
