// Original file: datanode/proto/admin.proto

import type { Member as _phantomdb_admin_v1_Member, Member__Output as _phantomdb_admin_v1_Member__Output } from '../../../phantomdb/admin/v1/Member.ts';

export interface PromoteResponse {
  'members'?: (_phantomdb_admin_v1_Member)[];
}

export interface PromoteResponse__Output {
  'members': (_phantomdb_admin_v1_Member__Output)[];
}
