// Original file: datanode/proto/admin.proto


export interface ClusterStatusRequest {
}

export interface ClusterStatusRequest__Output {
}
