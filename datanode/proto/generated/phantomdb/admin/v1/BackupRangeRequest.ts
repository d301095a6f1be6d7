// Original file: datanode/proto/admin.proto

import type { BackupVolumeDestination as _phantomdb_admin_v1_BackupVolumeDestination, BackupVolumeDestination__Output as _phantomdb_admin_v1_BackupVolumeDestination__Output } from '../../../phantomdb/admin/v1/BackupVolumeDestination.ts';
import type { BackupS3Destination as _phantomdb_admin_v1_BackupS3Destination, BackupS3Destination__Output as _phantomdb_admin_v1_BackupS3Destination__Output } from '../../../phantomdb/admin/v1/BackupS3Destination.ts';
import type { Long } from '@grpc/proto-loader';

export interface BackupRangeRequest {
  'rangeId'?: (number | string | Long);
  'startKey'?: (Buffer | Uint8Array | string);
  /**
   * Empty: to the end of the range.
   */
  'endKey'?: (Buffer | Uint8Array | string);
  /**
   * The backup timestamp (packed HLC).
   */
  'at'?: (number | string | Long);
  /**
   * For an incremental: versions in (since, at] only; 0: full.
   */
  'since'?: (number | string | Long);
  /**
   * The backup the files belong to; object keys start with "<backup_id>/".
   */
  'backupId'?: (string);
  /**
   * Object keys of the files are this prefix + "<index>.sst" (unique per attempt).
   */
  'objectKeyPrefix'?: (string);
  'volume'?: (_phantomdb_admin_v1_BackupVolumeDestination | null);
  's3'?: (_phantomdb_admin_v1_BackupS3Destination | null);
  'destination'?: "volume"|"s3";
}

export interface BackupRangeRequest__Output {
  'rangeId': (string);
  'startKey': (Buffer);
  /**
   * Empty: to the end of the range.
   */
  'endKey': (Buffer);
  /**
   * The backup timestamp (packed HLC).
   */
  'at': (string);
  /**
   * For an incremental: versions in (since, at] only; 0: full.
   */
  'since': (string);
  /**
   * The backup the files belong to; object keys start with "<backup_id>/".
   */
  'backupId': (string);
  /**
   * Object keys of the files are this prefix + "<index>.sst" (unique per attempt).
   */
  'objectKeyPrefix': (string);
  'volume'?: (_phantomdb_admin_v1_BackupVolumeDestination__Output | null);
  's3'?: (_phantomdb_admin_v1_BackupS3Destination__Output | null);
  'destination'?: "volume"|"s3";
}
