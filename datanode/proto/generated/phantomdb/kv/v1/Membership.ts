// Original file: datanode/proto/kv.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ChangeReplicasRequest as _phantomdb_kv_v1_ChangeReplicasRequest, ChangeReplicasRequest__Output as _phantomdb_kv_v1_ChangeReplicasRequest__Output } from '../../../phantomdb/kv/v1/ChangeReplicasRequest.ts';
import type { ChangeReplicasResponse as _phantomdb_kv_v1_ChangeReplicasResponse, ChangeReplicasResponse__Output as _phantomdb_kv_v1_ChangeReplicasResponse__Output } from '../../../phantomdb/kv/v1/ChangeReplicasResponse.ts';
import type { HeartbeatRequest as _phantomdb_kv_v1_HeartbeatRequest, HeartbeatRequest__Output as _phantomdb_kv_v1_HeartbeatRequest__Output } from '../../../phantomdb/kv/v1/HeartbeatRequest.ts';
import type { HeartbeatResponse as _phantomdb_kv_v1_HeartbeatResponse, HeartbeatResponse__Output as _phantomdb_kv_v1_HeartbeatResponse__Output } from '../../../phantomdb/kv/v1/HeartbeatResponse.ts';
import type { JoinRequest as _phantomdb_kv_v1_JoinRequest, JoinRequest__Output as _phantomdb_kv_v1_JoinRequest__Output } from '../../../phantomdb/kv/v1/JoinRequest.ts';
import type { JoinResponse as _phantomdb_kv_v1_JoinResponse, JoinResponse__Output as _phantomdb_kv_v1_JoinResponse__Output } from '../../../phantomdb/kv/v1/JoinResponse.ts';
import type { RecordRangesRequest as _phantomdb_kv_v1_RecordRangesRequest, RecordRangesRequest__Output as _phantomdb_kv_v1_RecordRangesRequest__Output } from '../../../phantomdb/kv/v1/RecordRangesRequest.ts';
import type { RecordRangesResponse as _phantomdb_kv_v1_RecordRangesResponse, RecordRangesResponse__Output as _phantomdb_kv_v1_RecordRangesResponse__Output } from '../../../phantomdb/kv/v1/RecordRangesResponse.ts';

/**
 * Cluster membership: a new node asks to be added as a learner; the leader promotes it to voter
 * once it has caught up.
 */
export interface MembershipClient extends grpc.Client {
  /**
   * One replica or lease change of a range, executed by the range's leader (the placement driver
   * on the meta leader calls it); PH_NOT_LEADER names the range's leader when known.
   */
  ChangeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  ChangeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  ChangeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  ChangeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  /**
   * One replica or lease change of a range, executed by the range's leader (the placement driver
   * on the meta leader calls it); PH_NOT_LEADER names the range's leader when known.
   */
  changeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  changeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  changeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  changeReplicas(argument: _phantomdb_kv_v1_ChangeReplicasRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_ChangeReplicasResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * A node's liveness heartbeat to the meta range's leader: its liveness record (recorded in the
   * meta range) and a report of the ranges it leads (leases and sizes, kept in the leader's memory).
   */
  Heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  /**
   * A node's liveness heartbeat to the meta range's leader: its liveness record (recorded in the
   * meta range) and a report of the ranges it leads (leases and sizes, kept in the leader's memory).
   */
  heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _phantomdb_kv_v1_HeartbeatRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  
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
  /**
   * One replica or lease change of a range, executed by the range's leader (the placement driver
   * on the meta leader calls it); PH_NOT_LEADER names the range's leader when known.
   */
  ChangeReplicas: grpc.handleUnaryCall<_phantomdb_kv_v1_ChangeReplicasRequest__Output, _phantomdb_kv_v1_ChangeReplicasResponse>;
  
  /**
   * A node's liveness heartbeat to the meta range's leader: its liveness record (recorded in the
   * meta range) and a report of the ranges it leads (leases and sizes, kept in the leader's memory).
   */
  Heartbeat: grpc.handleUnaryCall<_phantomdb_kv_v1_HeartbeatRequest__Output, _phantomdb_kv_v1_HeartbeatResponse>;
  
  Join: grpc.handleUnaryCall<_phantomdb_kv_v1_JoinRequest__Output, _phantomdb_kv_v1_JoinResponse>;
  
  /**
   * A range leader reports its range's descriptor to the meta range's leader (node to node;
   * PH_NOT_LEADER elsewhere). A copy is replaced only by one of the same or a newer generation.
   */
  RecordRanges: grpc.handleUnaryCall<_phantomdb_kv_v1_RecordRangesRequest__Output, _phantomdb_kv_v1_RecordRangesResponse>;
  
}

export interface MembershipDefinition extends grpc.ServiceDefinition {
  ChangeReplicas: MethodDefinition<_phantomdb_kv_v1_ChangeReplicasRequest, _phantomdb_kv_v1_ChangeReplicasResponse, _phantomdb_kv_v1_ChangeReplicasRequest__Output, _phantomdb_kv_v1_ChangeReplicasResponse__Output>
  Heartbeat: MethodDefinition<_phantomdb_kv_v1_HeartbeatRequest, _phantomdb_kv_v1_HeartbeatResponse, _phantomdb_kv_v1_HeartbeatRequest__Output, _phantomdb_kv_v1_HeartbeatResponse__Output>
  Join: MethodDefinition<_phantomdb_kv_v1_JoinRequest, _phantomdb_kv_v1_JoinResponse, _phantomdb_kv_v1_JoinRequest__Output, _phantomdb_kv_v1_JoinResponse__Output>
  RecordRanges: MethodDefinition<_phantomdb_kv_v1_RecordRangesRequest, _phantomdb_kv_v1_RecordRangesResponse, _phantomdb_kv_v1_RecordRangesRequest__Output, _phantomdb_kv_v1_RecordRangesResponse__Output>
}
