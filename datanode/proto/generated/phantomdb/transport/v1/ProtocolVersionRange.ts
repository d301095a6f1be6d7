// Original file: datanode/proto/phantomdb.proto


export interface ProtocolVersionRange {
  'min'?: (number);
  'max'?: (number);
}

export interface ProtocolVersionRange__Output {
  'min': (number);
  'max': (number);
}
