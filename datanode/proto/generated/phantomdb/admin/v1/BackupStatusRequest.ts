// Original file: datanode/proto/admin.proto


export interface BackupStatusRequest {
  'backupId'?: (string);
}

export interface BackupStatusRequest__Output {
  'backupId': (string);
}
