// Original file: datanode/proto/kv.proto


export interface HeartbeatRequest {
  /**
   * A liveness record (datanode/src/placement/liveness.ts encodeLivenessRecord).
   */
  'record'?: (Buffer | Uint8Array | string);
  /**
   * UTF-8 JSON: {"leases": [{"rangeId": n, "term": n, "bytes": n}]}.
   */
  'report'?: (Buffer | Uint8Array | string);
}

export interface HeartbeatRequest__Output {
  /**
   * A liveness record (datanode/src/placement/liveness.ts encodeLivenessRecord).
   */
  'record': (Buffer);
  /**
   * UTF-8 JSON: {"leases": [{"rangeId": n, "term": n, "bytes": n}]}.
   */
  'report': (Buffer);
}
