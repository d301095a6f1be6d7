// Original file: datanode/proto/phantomdb.proto


export interface RaftFrame {
  /**
   * One frame in the codec's format: header (magic, version, cluster id, sender, recipient) and
   * any number of Raft messages of any groups.
   */
  'frame'?: (Buffer | Uint8Array | string);
}

export interface RaftFrame__Output {
  /**
   * One frame in the codec's format: header (magic, version, cluster id, sender, recipient) and
   * any number of Raft messages of any groups.
   */
  'frame': (Buffer);
}
