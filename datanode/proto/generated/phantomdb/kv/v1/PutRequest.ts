// Original file: datanode/proto/kv.proto


export interface PutRequest {
  'key'?: (Buffer | Uint8Array | string);
  'value'?: (Buffer | Uint8Array | string);
}

export interface PutRequest__Output {
  'key': (Buffer);
  'value': (Buffer);
}
