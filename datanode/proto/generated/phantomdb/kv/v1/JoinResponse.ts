// Original file: datanode/proto/kv.proto

import type { Member as _phantomdb_kv_v1_Member, Member__Output as _phantomdb_kv_v1_Member__Output } from '../../../phantomdb/kv/v1/Member.ts';

export interface JoinResponse {
  /**
   * Every member's address, the joining node included.
   */
  'members'?: (_phantomdb_kv_v1_Member)[];
}

export interface JoinResponse__Output {
  /**
   * Every member's address, the joining node included.
   */
  'members': (_phantomdb_kv_v1_Member__Output)[];
}
