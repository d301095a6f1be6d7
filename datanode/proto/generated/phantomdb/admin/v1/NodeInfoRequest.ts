// Original file: datanode/proto/admin.proto


export interface NodeInfoRequest {
}

export interface NodeInfoRequest__Output {
}
