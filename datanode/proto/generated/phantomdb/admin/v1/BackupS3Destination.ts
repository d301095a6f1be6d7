// Original file: datanode/proto/admin.proto


export interface BackupS3Destination {
  'bucket'?: (string);
  'prefix'?: (string);
  'region'?: (string);
  'endpoint'?: (string);
  'forcePathStyle'?: (boolean);
  /**
   * Static credentials; empty: the SDK's default provider chain.
   */
  'accessKeyId'?: (string);
  'secretAccessKey'?: (string);
}

export interface BackupS3Destination__Output {
  'bucket': (string);
  'prefix': (string);
  'region': (string);
  'endpoint': (string);
  'forcePathStyle': (boolean);
  /**
   * Static credentials; empty: the SDK's default provider chain.
   */
  'accessKeyId': (string);
  'secretAccessKey': (string);
}
