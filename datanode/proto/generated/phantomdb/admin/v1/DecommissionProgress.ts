// Original file: datanode/proto/admin.proto

import type { Membership as _phantomdb_admin_v1_Membership, Membership__Output as _phantomdb_admin_v1_Membership__Output } from '../../../phantomdb/admin/v1/Membership.ts';
import type { Long } from '@grpc/proto-loader';

export interface DecommissionProgress {
  'nodeId'?: (number | string | Long);
  'membership'?: (_phantomdb_admin_v1_Membership);
  'replicasRemaining'?: (number);
  'leasesRemaining'?: (number);
  /**
   * Holds nothing and has left the membership.
   */
  'done'?: (boolean);
}

export interface DecommissionProgress__Output {
  'nodeId': (string);
  'membership': (_phantomdb_admin_v1_Membership__Output);
  'replicasRemaining': (number);
  'leasesRemaining': (number);
  /**
   * Holds nothing and has left the membership.
   */
  'done': (boolean);
}
