// Original file: datanode/proto/kv.proto


export interface DeleteRequest {
  'key'?: (Buffer | Uint8Array | string);
}

export interface DeleteRequest__Output {
  'key': (Buffer);
}
