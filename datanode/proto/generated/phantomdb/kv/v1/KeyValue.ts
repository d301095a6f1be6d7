// Original file: datanode/proto/kv.proto


export interface KeyValue {
  'key'?: (Buffer | Uint8Array | string);
  'value'?: (Buffer | Uint8Array | string);
}

export interface KeyValue__Output {
  'key': (Buffer);
  'value': (Buffer);
}
