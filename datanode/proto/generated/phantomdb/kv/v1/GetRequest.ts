// Original file: datanode/proto/kv.proto

import type { Long } from '@grpc/proto-loader';

export interface GetRequest {
  'key'?: (Buffer | Uint8Array | string);
  /**
   * Read as of this HLC timestamp (packed: wall ms << 16 | logical; 0: the newest version,
   * linearizable). The range first closes the timestamp (later writes land above it), so a
   * read at T is repeatable. A timestamp beyond the node's clock plus the offset bound is refused.
   */
  'at'?: (number | string | Long);
}

export interface GetRequest__Output {
  'key': (Buffer);
  /**
   * Read as of this HLC timestamp (packed: wall ms << 16 | logical; 0: the newest version,
   * linearizable). The range first closes the timestamp (later writes land above it), so a
   * read at T is repeatable. A timestamp beyond the node's clock plus the offset bound is refused.
   */
  'at': (string);
}
