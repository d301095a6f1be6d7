// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface BackupProgress {
  'backupId'?: (string);
  /**
   * UNKNOWN, RUNNING, COMPLETED or FAILED.
   */
  'phase'?: (string);
  /**
   * The cluster timestamp the backup is consistent at (HLC text "<wallMs>.<logical>").
   */
  'backupTimestamp'?: (string);
  'rangesDone'?: (number);
  'rangesTotal'?: (number);
  'bytesDone'?: (number | string | Long);
  /**
   * Bytes of all objects, once the manifest is written.
   */
  'totalBytes'?: (number | string | Long);
  /**
   * Every object was re-read and matched its size and SHA-256.
   */
  'verified'?: (boolean);
  /**
   * Why it failed (FAILED), or what it is doing.
   */
  'message'?: (string);
}

export interface BackupProgress__Output {
  'backupId': (string);
  /**
   * UNKNOWN, RUNNING, COMPLETED or FAILED.
   */
  'phase': (string);
  /**
   * The cluster timestamp the backup is consistent at (HLC text "<wallMs>.<logical>").
   */
  'backupTimestamp': (string);
  'rangesDone': (number);
  'rangesTotal': (number);
  'bytesDone': (string);
  /**
   * Bytes of all objects, once the manifest is written.
   */
  'totalBytes': (string);
  /**
   * Every object was re-read and matched its size and SHA-256.
   */
  'verified': (boolean);
  /**
   * Why it failed (FAILED), or what it is doing.
   */
  'message': (string);
}
