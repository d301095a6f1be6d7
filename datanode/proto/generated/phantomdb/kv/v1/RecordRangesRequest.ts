// Original file: datanode/proto/kv.proto


export interface RecordRangesRequest {
  /**
   * Range descriptors, each as the JSON of datanode/src/kv/descriptor.ts.
   */
  'descriptors'?: (Buffer | Uint8Array | string)[];
}

export interface RecordRangesRequest__Output {
  /**
   * Range descriptors, each as the JSON of datanode/src/kv/descriptor.ts.
   */
  'descriptors': (Buffer)[];
}
