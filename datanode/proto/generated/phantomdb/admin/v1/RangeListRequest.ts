// Original file: datanode/proto/admin.proto


export interface RangeListRequest {
}

export interface RangeListRequest__Output {
}
