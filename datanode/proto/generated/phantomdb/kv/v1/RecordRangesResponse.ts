// Original file: datanode/proto/kv.proto


export interface RecordRangesResponse {
}

export interface RecordRangesResponse__Output {
}
