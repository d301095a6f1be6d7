// Original file: datanode/proto/kv.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { JoinRequest as _phantomdb_kv_v1_JoinRequest, JoinRequest__Output as _phantomdb_kv_v1_JoinRequest__Output } from '../../../phantomdb/kv/v1/JoinRequest.ts';
import type { JoinResponse as _phantomdb_kv_v1_JoinResponse, JoinResponse__Output as _phantomdb_kv_v1_JoinResponse__Output } from '../../../phantomdb/kv/v1/JoinResponse.ts';
import type { RecordRangesRequest as _phantomdb_kv_v1_RecordRangesRequest, RecordRangesRequest__Output as _phantomdb_kv_v1_RecordRangesRequest__Output } from '../../../phantomdb/kv/v1/RecordRangesRequest.ts';
import type { RecordRangesResponse as _phantomdb_kv_v1_RecordRangesResponse, RecordRangesResponse__Output as _phantomdb_kv_v1_RecordRangesResponse__Output } from '../../../phantomdb/kv/v1/RecordRangesResponse.ts';

/**
 * Cluster membership: a new node asks to be added as a learner; the leader promotes it to voter
 * once it has caught up.
 */
export interface MembershipClient extends grpc.Client {
  Join(argument: _phantomdb_kv_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _phantomdb_kv_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _phantomdb_kv_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _phantomdb_kv_v1_JoinRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _phantomdb_kv_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _phantomdb_kv_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _phantomdb_kv_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _phantomdb_kv_v1_JoinRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * A range leader reports its range's descriptor to the meta range's leader (node to node;
   * PH_NOT_LEADER elsewhere). A copy is replaced only by one of the same or a newer generation.
   */
  RecordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  RecordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  RecordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  RecordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  /**
   * A range leader reports its range's descriptor to the meta range's leader (node to node;
   * PH_NOT_LEADER elsewhere). A copy is replaced only by one of the same or a newer generation.
   */
  recordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  recordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  recordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  recordRanges(argument: _phantomdb_kv_v1_RecordRangesRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_RecordRangesResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Cluster membership: a new node asks to be added as a learner; the leader promotes it to voter
 * once it has caught up.
 */
export interface MembershipHandlers extends grpc.UntypedServiceImplementation {
  Join: grpc.handleUnaryCall<_phantomdb_kv_v1_JoinRequest__Output, _phantomdb_kv_v1_JoinResponse>;
  
  /**
   * A range leader reports its range's descriptor to the meta range's leader (node to node;
   * PH_NOT_LEADER elsewhere). A copy is replaced only by one of the same or a newer generation.
   */
  RecordRanges: grpc.handleUnaryCall<_phantomdb_kv_v1_RecordRangesRequest__Output, _phantomdb_kv_v1_RecordRangesResponse>;
  
}

export interface MembershipDefinition extends grpc.ServiceDefinition {
  Join: MethodDefinition<_phantomdb_kv_v1_JoinRequest, _phantomdb_kv_v1_JoinResponse, _phantomdb_kv_v1_JoinRequest__Output, _phantomdb_kv_v1_JoinResponse__Output>
  RecordRanges: MethodDefinition<_phantomdb_kv_v1_RecordRangesRequest, _phantomdb_kv_v1_RecordRangesResponse, _phantomdb_kv_v1_RecordRangesRequest__Output, _phantomdb_kv_v1_RecordRangesResponse__Output>
}
