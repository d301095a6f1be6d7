// Original file: datanode/proto/admin.proto

import type { BackupVolumeDestination as _phantomdb_admin_v1_BackupVolumeDestination, BackupVolumeDestination__Output as _phantomdb_admin_v1_BackupVolumeDestination__Output } from '../../../phantomdb/admin/v1/BackupVolumeDestination.ts';
import type { BackupS3Destination as _phantomdb_admin_v1_BackupS3Destination, BackupS3Destination__Output as _phantomdb_admin_v1_BackupS3Destination__Output } from '../../../phantomdb/admin/v1/BackupS3Destination.ts';

export interface DeleteBackupRequest {
  'backupId'?: (string);
  'volume'?: (_phantomdb_admin_v1_BackupVolumeDestination | null);
  's3'?: (_phantomdb_admin_v1_BackupS3Destination | null);
  'destination'?: "volume"|"s3";
}

export interface DeleteBackupRequest__Output {
  'backupId': (string);
  'volume'?: (_phantomdb_admin_v1_BackupVolumeDestination__Output | null);
  's3'?: (_phantomdb_admin_v1_BackupS3Destination__Output | null);
  'destination'?: "volume"|"s3";
}
