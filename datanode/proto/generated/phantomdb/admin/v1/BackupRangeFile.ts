// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface BackupRangeFile {
  'objectKey'?: (string);
  'sizeBytes'?: (number | string | Long);
  /**
   * Hex SHA-256 of the object as written (checked again by reading it back).
   */
  'sha256'?: (string);
  'entries'?: (number | string | Long);
  'smallestKey'?: (Buffer | Uint8Array | string);
  'largestKey'?: (Buffer | Uint8Array | string);
}

export interface BackupRangeFile__Output {
  'objectKey': (string);
  'sizeBytes': (string);
  /**
   * Hex SHA-256 of the object as written (checked again by reading it back).
   */
  'sha256': (string);
  'entries': (string);
  'smallestKey': (Buffer);
  'largestKey': (Buffer);
}
