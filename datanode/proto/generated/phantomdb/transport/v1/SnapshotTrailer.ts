// Original file: datanode/proto/phantomdb.proto

import type { Long } from '@grpc/proto-loader';

export interface SnapshotTrailer {
  'totalBytes'?: (number | string | Long);
  /**
   * CRC-32C of all data chunks in order.
   */
  'crc32c'?: (number);
}

export interface SnapshotTrailer__Output {
  'totalBytes': (string);
  /**
   * CRC-32C of all data chunks in order.
   */
  'crc32c': (number);
}
