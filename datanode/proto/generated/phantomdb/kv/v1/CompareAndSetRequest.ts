// Original file: datanode/proto/kv.proto


export interface CompareAndSetRequest {
  'key'?: (Buffer | Uint8Array | string);
  'expectAbsent'?: (boolean);
  'expected'?: (Buffer | Uint8Array | string);
  'value'?: (Buffer | Uint8Array | string);
}

export interface CompareAndSetRequest__Output {
  'key': (Buffer);
  'expectAbsent': (boolean);
  'expected': (Buffer);
  'value': (Buffer);
}
