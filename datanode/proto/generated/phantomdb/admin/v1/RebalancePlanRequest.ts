// Original file: datanode/proto/admin.proto


export interface RebalancePlanRequest {
}

export interface RebalancePlanRequest__Output {
}
