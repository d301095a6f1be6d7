// Original file: datanode/proto/kv.proto

import type { Long } from '@grpc/proto-loader';

export interface ScanRequest {
  'start'?: (Buffer | Uint8Array | string);
  'end'?: (Buffer | Uint8Array | string);
  /**
   * 0 means the server's default (100); larger than the server's limit is refused.
   */
  'limit'?: (number);
  /**
   * Read as of this HLC timestamp (as GetRequest.at; 0: the newest versions).
   */
  'at'?: (number | string | Long);
}

export interface ScanRequest__Output {
  'start': (Buffer);
  'end': (Buffer);
  /**
   * 0 means the server's default (100); larger than the server's limit is refused.
   */
  'limit': (number);
  /**
   * Read as of this HLC timestamp (as GetRequest.at; 0: the newest versions).
   */
  'at': (string);
}
