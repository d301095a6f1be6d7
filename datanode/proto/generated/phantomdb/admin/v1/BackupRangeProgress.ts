// Original file: datanode/proto/admin.proto

import type { BackupRangeFile as _phantomdb_admin_v1_BackupRangeFile, BackupRangeFile__Output as _phantomdb_admin_v1_BackupRangeFile__Output } from '../../../phantomdb/admin/v1/BackupRangeFile.ts';
import type { Long } from '@grpc/proto-loader';

export interface BackupRangeProgress {
  /**
   * Bytes written to the destination so far by this export.
   */
  'bytesDone'?: (number | string | Long);
  /**
   * Set on the last message: the export finished and these are its files (possibly none).
   */
  'done'?: (boolean);
  'files'?: (_phantomdb_admin_v1_BackupRangeFile)[];
}

export interface BackupRangeProgress__Output {
  /**
   * Bytes written to the destination so far by this export.
   */
  'bytesDone': (string);
  /**
   * Set on the last message: the export finished and these are its files (possibly none).
   */
  'done': (boolean);
  'files': (_phantomdb_admin_v1_BackupRangeFile__Output)[];
}
