// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface ExportRangeRequest {
  'rangeId'?: (number | string | Long);
  'startKey'?: (Buffer | Uint8Array | string);
  /**
   * Empty: to the end of the range.
   */
  'endKey'?: (Buffer | Uint8Array | string);
  /**
   * The backup timestamp (packed HLC: wall ms << 16 | logical).
   */
  'at'?: (number | string | Long);
  /**
   * For an incremental: versions in (since, at] only, deletions included; 0: full.
   */
  'since'?: (number | string | Long);
}

export interface ExportRangeRequest__Output {
  'rangeId': (string);
  'startKey': (Buffer);
  /**
   * Empty: to the end of the range.
   */
  'endKey': (Buffer);
  /**
   * The backup timestamp (packed HLC: wall ms << 16 | logical).
   */
  'at': (string);
  /**
   * For an incremental: versions in (since, at] only, deletions included; 0: full.
   */
  'since': (string);
}
