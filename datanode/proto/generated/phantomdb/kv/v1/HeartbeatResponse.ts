// Original file: datanode/proto/kv.proto


export interface HeartbeatResponse {
}

export interface HeartbeatResponse__Output {
}
