// Original file: datanode/proto/kv.proto


export interface CompareAndSetResponse {
  'succeeded'?: (boolean);
  'currentPresent'?: (boolean);
  /**
   * The value found (on failure, what the key held instead of expected).
   */
  'current'?: (Buffer | Uint8Array | string);
}

export interface CompareAndSetResponse__Output {
  'succeeded': (boolean);
  'currentPresent': (boolean);
  /**
   * The value found (on failure, what the key held instead of expected).
   */
  'current': (Buffer);
}
