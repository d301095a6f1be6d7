// Original file: datanode/proto/admin.proto

import type { Membership as _phantomdb_admin_v1_Membership, Membership__Output as _phantomdb_admin_v1_Membership__Output } from '../../../phantomdb/admin/v1/Membership.ts';
import type { Long } from '@grpc/proto-loader';

export interface Member {
  'nodeId'?: (number | string | Long);
  'address'?: (string);
  'membership'?: (_phantomdb_admin_v1_Membership);
}

export interface Member__Output {
  'nodeId': (string);
  'address': (string);
  'membership': (_phantomdb_admin_v1_Membership__Output);
}
