// Original file: datanode/proto/kv.proto


export interface ScanRequest {
  'start'?: (Buffer | Uint8Array | string);
  'end'?: (Buffer | Uint8Array | string);
  /**
   * 0 means the server's default (100); larger than the server's limit is refused.
   */
  'limit'?: (number);
}

export interface ScanRequest__Output {
  'start': (Buffer);
  'end': (Buffer);
  /**
   * 0 means the server's default (100); larger than the server's limit is refused.
   */
  'limit': (number);
}
