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
  /**
   * Bytes of the ranges the node still holds a replica of (the placement driver's estimate).
   */
  'bytesRemaining'?: (number | string | Long);
  /**
   * Estimated seconds until done, from the rate replicas and bytes left since the previous
   * progress call; -1 while unknown.
   */
  'etaSeconds'?: (number | string | Long);
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
  /**
   * Bytes of the ranges the node still holds a replica of (the placement driver's estimate).
   */
  'bytesRemaining': (string);
  /**
   * Estimated seconds until done, from the rate replicas and bytes left since the previous
   * progress call; -1 while unknown.
   */
  'etaSeconds': (string);
}
