// Original file: datanode/proto/admin.proto

import type { RangeReplica as _phantomdb_admin_v1_RangeReplica, RangeReplica__Output as _phantomdb_admin_v1_RangeReplica__Output } from '../../../phantomdb/admin/v1/RangeReplica.ts';
import type { Long } from '@grpc/proto-loader';

export interface RangeInfo {
  'rangeId'?: (number | string | Long);
  /**
   * The range's user keys [start_key, end_key); an empty end_key: to the end of the keyspace.
   * The meta range (range 1) holds no user keys: both are empty and meta is set.
   */
  'startKey'?: (Buffer | Uint8Array | string);
  'endKey'?: (Buffer | Uint8Array | string);
  'meta'?: (boolean);
  /**
   * Bumped by every split of the range.
   */
  'generation'?: (number | string | Long);
  'replicas'?: (_phantomdb_admin_v1_RangeReplica)[];
  /**
   * The range's leader as the answering node knows it (0: none known).
   */
  'leaderId'?: (number | string | Long);
  'underReplicated'?: (boolean);
  'unavailable'?: (boolean);
}

export interface RangeInfo__Output {
  'rangeId': (string);
  /**
   * The range's user keys [start_key, end_key); an empty end_key: to the end of the keyspace.
   * The meta range (range 1) holds no user keys: both are empty and meta is set.
   */
  'startKey': (Buffer);
  'endKey': (Buffer);
  'meta': (boolean);
  /**
   * Bumped by every split of the range.
   */
  'generation': (string);
  'replicas': (_phantomdb_admin_v1_RangeReplica__Output)[];
  /**
   * The range's leader as the answering node knows it (0: none known).
   */
  'leaderId': (string);
  'underReplicated': (boolean);
  'unavailable': (boolean);
}
