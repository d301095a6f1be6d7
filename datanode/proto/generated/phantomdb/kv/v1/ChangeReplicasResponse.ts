// Original file: datanode/proto/kv.proto


export interface ChangeReplicasResponse {
  /**
   * For caught-up: whether the learner has caught up; otherwise true once the change applied.
   */
  'done'?: (boolean);
}

export interface ChangeReplicasResponse__Output {
  /**
   * For caught-up: whether the learner has caught up; otherwise true once the change applied.
   */
  'done': (boolean);
}
