// Original file: datanode/proto/admin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AddLearnerRequest as _phantomdb_admin_v1_AddLearnerRequest, AddLearnerRequest__Output as _phantomdb_admin_v1_AddLearnerRequest__Output } from '../../../phantomdb/admin/v1/AddLearnerRequest.ts';
import type { AddLearnerResponse as _phantomdb_admin_v1_AddLearnerResponse, AddLearnerResponse__Output as _phantomdb_admin_v1_AddLearnerResponse__Output } from '../../../phantomdb/admin/v1/AddLearnerResponse.ts';
import type { AssignIdentityRequest as _phantomdb_admin_v1_AssignIdentityRequest, AssignIdentityRequest__Output as _phantomdb_admin_v1_AssignIdentityRequest__Output } from '../../../phantomdb/admin/v1/AssignIdentityRequest.ts';
import type { BackupProgress as _phantomdb_admin_v1_BackupProgress, BackupProgress__Output as _phantomdb_admin_v1_BackupProgress__Output } from '../../../phantomdb/admin/v1/BackupProgress.ts';
import type { BackupRequest as _phantomdb_admin_v1_BackupRequest, BackupRequest__Output as _phantomdb_admin_v1_BackupRequest__Output } from '../../../phantomdb/admin/v1/BackupRequest.ts';
import type { BackupStatusRequest as _phantomdb_admin_v1_BackupStatusRequest, BackupStatusRequest__Output as _phantomdb_admin_v1_BackupStatusRequest__Output } from '../../../phantomdb/admin/v1/BackupStatusRequest.ts';
import type { ClusterStatusRequest as _phantomdb_admin_v1_ClusterStatusRequest, ClusterStatusRequest__Output as _phantomdb_admin_v1_ClusterStatusRequest__Output } from '../../../phantomdb/admin/v1/ClusterStatusRequest.ts';
import type { ClusterStatusResponse as _phantomdb_admin_v1_ClusterStatusResponse, ClusterStatusResponse__Output as _phantomdb_admin_v1_ClusterStatusResponse__Output } from '../../../phantomdb/admin/v1/ClusterStatusResponse.ts';
import type { DecommissionProgress as _phantomdb_admin_v1_DecommissionProgress, DecommissionProgress__Output as _phantomdb_admin_v1_DecommissionProgress__Output } from '../../../phantomdb/admin/v1/DecommissionProgress.ts';
import type { DecommissionRequest as _phantomdb_admin_v1_DecommissionRequest, DecommissionRequest__Output as _phantomdb_admin_v1_DecommissionRequest__Output } from '../../../phantomdb/admin/v1/DecommissionRequest.ts';
import type { DeleteBackupRequest as _phantomdb_admin_v1_DeleteBackupRequest, DeleteBackupRequest__Output as _phantomdb_admin_v1_DeleteBackupRequest__Output } from '../../../phantomdb/admin/v1/DeleteBackupRequest.ts';
import type { DeleteBackupResponse as _phantomdb_admin_v1_DeleteBackupResponse, DeleteBackupResponse__Output as _phantomdb_admin_v1_DeleteBackupResponse__Output } from '../../../phantomdb/admin/v1/DeleteBackupResponse.ts';
import type { DrainProgress as _phantomdb_admin_v1_DrainProgress, DrainProgress__Output as _phantomdb_admin_v1_DrainProgress__Output } from '../../../phantomdb/admin/v1/DrainProgress.ts';
import type { DrainRequest as _phantomdb_admin_v1_DrainRequest, DrainRequest__Output as _phantomdb_admin_v1_DrainRequest__Output } from '../../../phantomdb/admin/v1/DrainRequest.ts';
import type { ExportRangeChunk as _phantomdb_admin_v1_ExportRangeChunk, ExportRangeChunk__Output as _phantomdb_admin_v1_ExportRangeChunk__Output } from '../../../phantomdb/admin/v1/ExportRangeChunk.ts';
import type { ExportRangeRequest as _phantomdb_admin_v1_ExportRangeRequest, ExportRangeRequest__Output as _phantomdb_admin_v1_ExportRangeRequest__Output } from '../../../phantomdb/admin/v1/ExportRangeRequest.ts';
import type { FinalizeClusterVersionRequest as _phantomdb_admin_v1_FinalizeClusterVersionRequest, FinalizeClusterVersionRequest__Output as _phantomdb_admin_v1_FinalizeClusterVersionRequest__Output } from '../../../phantomdb/admin/v1/FinalizeClusterVersionRequest.ts';
import type { FinalizeClusterVersionResponse as _phantomdb_admin_v1_FinalizeClusterVersionResponse, FinalizeClusterVersionResponse__Output as _phantomdb_admin_v1_FinalizeClusterVersionResponse__Output } from '../../../phantomdb/admin/v1/FinalizeClusterVersionResponse.ts';
import type { NodeInfoRequest as _phantomdb_admin_v1_NodeInfoRequest, NodeInfoRequest__Output as _phantomdb_admin_v1_NodeInfoRequest__Output } from '../../../phantomdb/admin/v1/NodeInfoRequest.ts';
import type { NodeInfoResponse as _phantomdb_admin_v1_NodeInfoResponse, NodeInfoResponse__Output as _phantomdb_admin_v1_NodeInfoResponse__Output } from '../../../phantomdb/admin/v1/NodeInfoResponse.ts';
import type { PromoteRequest as _phantomdb_admin_v1_PromoteRequest, PromoteRequest__Output as _phantomdb_admin_v1_PromoteRequest__Output } from '../../../phantomdb/admin/v1/PromoteRequest.ts';
import type { PromoteResponse as _phantomdb_admin_v1_PromoteResponse, PromoteResponse__Output as _phantomdb_admin_v1_PromoteResponse__Output } from '../../../phantomdb/admin/v1/PromoteResponse.ts';
import type { RangeListRequest as _phantomdb_admin_v1_RangeListRequest, RangeListRequest__Output as _phantomdb_admin_v1_RangeListRequest__Output } from '../../../phantomdb/admin/v1/RangeListRequest.ts';
import type { RangeListResponse as _phantomdb_admin_v1_RangeListResponse, RangeListResponse__Output as _phantomdb_admin_v1_RangeListResponse__Output } from '../../../phantomdb/admin/v1/RangeListResponse.ts';
import type { RebalancePlanRequest as _phantomdb_admin_v1_RebalancePlanRequest, RebalancePlanRequest__Output as _phantomdb_admin_v1_RebalancePlanRequest__Output } from '../../../phantomdb/admin/v1/RebalancePlanRequest.ts';
import type { RebalancePlanResponse as _phantomdb_admin_v1_RebalancePlanResponse, RebalancePlanResponse__Output as _phantomdb_admin_v1_RebalancePlanResponse__Output } from '../../../phantomdb/admin/v1/RebalancePlanResponse.ts';
import type { RecommissionRequest as _phantomdb_admin_v1_RecommissionRequest, RecommissionRequest__Output as _phantomdb_admin_v1_RecommissionRequest__Output } from '../../../phantomdb/admin/v1/RecommissionRequest.ts';
import type { TransferLeadershipRequest as _phantomdb_admin_v1_TransferLeadershipRequest, TransferLeadershipRequest__Output as _phantomdb_admin_v1_TransferLeadershipRequest__Output } from '../../../phantomdb/admin/v1/TransferLeadershipRequest.ts';
import type { TransferLeadershipResponse as _phantomdb_admin_v1_TransferLeadershipResponse, TransferLeadershipResponse__Output as _phantomdb_admin_v1_TransferLeadershipResponse__Output } from '../../../phantomdb/admin/v1/TransferLeadershipResponse.ts';

export interface AdminClient extends grpc.Client {
  /**
   * Adds a node as a non-voting learner; it starts receiving the log and snapshots.
   */
  AddLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  AddLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  AddLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  AddLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Adds a node as a non-voting learner; it starts receiving the log and snapshots.
   */
  addLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  addLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  addLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  addLearner(argument: _phantomdb_admin_v1_AddLearnerRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_AddLearnerResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Gives a new node (node_id 0) its id, answered by that node itself (never redirected). The
   * id is recorded durably (the data directory's IDENTITY) before the answer. Idempotent: the
   * same id again answers success; another id is refused with PH_IDENTITY_CONFLICT.
   */
  AssignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  AssignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  AssignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  AssignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Gives a new node (node_id 0) its id, answered by that node itself (never redirected). The
   * id is recorded durably (the data directory's IDENTITY) before the answer. Idempotent: the
   * same id again answers success; another id is refused with PH_IDENTITY_CONFLICT.
   */
  assignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  assignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  assignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  assignIdentity(argument: _phantomdb_admin_v1_AssignIdentityRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Starts (or reports) a backup of the whole cluster, consistent at one cluster timestamp,
   * answered by the meta range's leader. Idempotent by backup_id: calling again answers the
   * backup's progress (COMPLETED from the destination's manifest once it finished).
   */
  Backup(argument: _phantomdb_admin_v1_BackupRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  Backup(argument: _phantomdb_admin_v1_BackupRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  Backup(argument: _phantomdb_admin_v1_BackupRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  Backup(argument: _phantomdb_admin_v1_BackupRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  /**
   * Starts (or reports) a backup of the whole cluster, consistent at one cluster timestamp,
   * answered by the meta range's leader. Idempotent by backup_id: calling again answers the
   * backup's progress (COMPLETED from the destination's manifest once it finished).
   */
  backup(argument: _phantomdb_admin_v1_BackupRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  backup(argument: _phantomdb_admin_v1_BackupRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  backup(argument: _phantomdb_admin_v1_BackupRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  backup(argument: _phantomdb_admin_v1_BackupRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  
  /**
   * The progress of a backup this node runs or ran (phase UNKNOWN when it has none by that id).
   */
  BackupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  BackupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  BackupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  BackupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  /**
   * The progress of a backup this node runs or ran (phase UNKNOWN when it has none by that id).
   */
  backupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  backupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  backupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  backupStatus(argument: _phantomdb_admin_v1_BackupStatusRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_BackupProgress__Output>): grpc.ClientUnaryCall;
  
  /**
   * Members, their liveness and Raft progress, and range health, as the leader sees them.
   */
  ClusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  ClusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  ClusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  ClusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Members, their liveness and Raft progress, and range health, as the leader sees them.
   */
  clusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  clusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  clusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  clusterStatus(argument: _phantomdb_admin_v1_ClusterStatusRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_ClusterStatusResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Starts (or reports) moving every replica and lease off a node, then removing it.
   * PH_DECOMMISSION_REFUSED when the remaining nodes could not hold the replication factor.
   */
  Decommission(argument: _phantomdb_admin_v1_DecommissionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  Decommission(argument: _phantomdb_admin_v1_DecommissionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  Decommission(argument: _phantomdb_admin_v1_DecommissionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  Decommission(argument: _phantomdb_admin_v1_DecommissionRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  /**
   * Starts (or reports) moving every replica and lease off a node, then removing it.
   * PH_DECOMMISSION_REFUSED when the remaining nodes could not hold the replication factor.
   */
  decommission(argument: _phantomdb_admin_v1_DecommissionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  decommission(argument: _phantomdb_admin_v1_DecommissionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  decommission(argument: _phantomdb_admin_v1_DecommissionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  decommission(argument: _phantomdb_admin_v1_DecommissionRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  
  /**
   * Deletes every object of one backup (<backup_id>/...) at the destination, as this node
   * reaches it (any node: a volume destination is mounted in every data node). For the
   * operator's retention of backups on a volume it does not mount. Idempotent.
   */
  DeleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  DeleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  DeleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  DeleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Deletes every object of one backup (<backup_id>/...) at the destination, as this node
   * reaches it (any node: a volume destination is mounted in every data node). For the
   * operator's retention of backups on a volume it does not mount. Idempotent.
   */
  deleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  deleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  deleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  deleteBackup(argument: _phantomdb_admin_v1_DeleteBackupRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DeleteBackupResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Moves every lease (leadership) off a node; it keeps its replicas.
   */
  Drain(argument: _phantomdb_admin_v1_DrainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  Drain(argument: _phantomdb_admin_v1_DrainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  Drain(argument: _phantomdb_admin_v1_DrainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  Drain(argument: _phantomdb_admin_v1_DrainRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  /**
   * Moves every lease (leadership) off a node; it keeps its replicas.
   */
  drain(argument: _phantomdb_admin_v1_DrainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  drain(argument: _phantomdb_admin_v1_DrainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  drain(argument: _phantomdb_admin_v1_DrainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  drain(argument: _phantomdb_admin_v1_DrainRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DrainProgress__Output>): grpc.ClientUnaryCall;
  
  /**
   * Node to node: exports [start_key, end_key) of one range as of `at` (MVCC versions as
   * ingestible SSTables), served by the range's leader (PH_NOT_LEADER elsewhere).
   */
  ExportRange(argument: _phantomdb_admin_v1_ExportRangeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_phantomdb_admin_v1_ExportRangeChunk__Output>;
  ExportRange(argument: _phantomdb_admin_v1_ExportRangeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_phantomdb_admin_v1_ExportRangeChunk__Output>;
  /**
   * Node to node: exports [start_key, end_key) of one range as of `at` (MVCC versions as
   * ingestible SSTables), served by the range's leader (PH_NOT_LEADER elsewhere).
   */
  exportRange(argument: _phantomdb_admin_v1_ExportRangeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_phantomdb_admin_v1_ExportRangeChunk__Output>;
  exportRange(argument: _phantomdb_admin_v1_ExportRangeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_phantomdb_admin_v1_ExportRangeChunk__Output>;
  
  /**
   * Raises the cluster version (the replicated record in the meta range) to target_version, or,
   * when it is empty, to the oldest binary version among the members. Refused with
   * PH_FINALIZE_REFUSED, listing the nodes, unless every member (not decommissioned) is LIVE
   * and runs a binary that can run the target; a target below the current cluster version is
   * refused too (no downgrade). Idempotent: the current version again answers success.
   */
  FinalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  FinalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  FinalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  FinalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Raises the cluster version (the replicated record in the meta range) to target_version, or,
   * when it is empty, to the oldest binary version among the members. Refused with
   * PH_FINALIZE_REFUSED, listing the nodes, unless every member (not decommissioned) is LIVE
   * and runs a binary that can run the target; a target below the current cluster version is
   * refused too (no downgrade). Idempotent: the current version again answers success.
   */
  finalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  finalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  finalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  finalizeClusterVersion(argument: _phantomdb_admin_v1_FinalizeClusterVersionRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * This node's own identity and state, answered by the node itself (never redirected).
   * node_id 0: a new node still waiting for AssignIdentity.
   */
  NodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  NodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  NodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  NodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  /**
   * This node's own identity and state, answered by the node itself (never redirected).
   * node_id 0: a new node still waiting for AssignIdentity.
   */
  nodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  nodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  nodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  nodeInfo(argument: _phantomdb_admin_v1_NodeInfoRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_NodeInfoResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Makes a caught-up learner a voter. PH_NOT_CAUGHT_UP (retriable) while it lags.
   */
  Promote(argument: _phantomdb_admin_v1_PromoteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  Promote(argument: _phantomdb_admin_v1_PromoteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  Promote(argument: _phantomdb_admin_v1_PromoteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  Promote(argument: _phantomdb_admin_v1_PromoteRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Makes a caught-up learner a voter. PH_NOT_CAUGHT_UP (retriable) while it lags.
   */
  promote(argument: _phantomdb_admin_v1_PromoteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  promote(argument: _phantomdb_admin_v1_PromoteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  promote(argument: _phantomdb_admin_v1_PromoteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  promote(argument: _phantomdb_admin_v1_PromoteRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_PromoteResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Every range the meta range's leader knows (its descriptors and each range's replicas and
   * leader as that node sees them), in range id order.
   */
  RangeList(argument: _phantomdb_admin_v1_RangeListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  RangeList(argument: _phantomdb_admin_v1_RangeListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  RangeList(argument: _phantomdb_admin_v1_RangeListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  RangeList(argument: _phantomdb_admin_v1_RangeListRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Every range the meta range's leader knows (its descriptors and each range's replicas and
   * leader as that node sees them), in range id order.
   */
  rangeList(argument: _phantomdb_admin_v1_RangeListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  rangeList(argument: _phantomdb_admin_v1_RangeListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  rangeList(argument: _phantomdb_admin_v1_RangeListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  rangeList(argument: _phantomdb_admin_v1_RangeListRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_RangeListResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Asks the placement driver (on the meta range's leader) to plan and start moves now instead
   * of at its next pass; answers the dry-run plan it starts from.
   */
  RebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  RebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  RebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  RebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Asks the placement driver (on the meta range's leader) to plan and start moves now instead
   * of at its next pass; answers the dry-run plan it starts from.
   */
  rebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  rebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  rebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  rebalanceNow(argument: _phantomdb_admin_v1_RebalancePlanRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The moves the placement driver would make from the current cluster snapshot until balanced
   * (a dry run: nothing moves), the bytes they would copy, and each node's load before and after.
   */
  RebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  RebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  RebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  RebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The moves the placement driver would make from the current cluster snapshot until balanced
   * (a dry run: nothing moves), the bytes they would copy, and each node's load before and after.
   */
  rebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  rebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  rebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  rebalancePlan(argument: _phantomdb_admin_v1_RebalancePlanRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_RebalancePlanResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Cancels a decommission that has not finished; the node takes replicas again.
   */
  Recommission(argument: _phantomdb_admin_v1_RecommissionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  Recommission(argument: _phantomdb_admin_v1_RecommissionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  Recommission(argument: _phantomdb_admin_v1_RecommissionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  Recommission(argument: _phantomdb_admin_v1_RecommissionRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  /**
   * Cancels a decommission that has not finished; the node takes replicas again.
   */
  recommission(argument: _phantomdb_admin_v1_RecommissionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  recommission(argument: _phantomdb_admin_v1_RecommissionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  recommission(argument: _phantomdb_admin_v1_RecommissionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  recommission(argument: _phantomdb_admin_v1_RecommissionRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_DecommissionProgress__Output>): grpc.ClientUnaryCall;
  
  /**
   * Moves the cluster's leadership to a node (any suitable voter when target_node_id is 0).
   */
  TransferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  TransferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  TransferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  TransferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Moves the cluster's leadership to a node (any suitable voter when target_node_id is 0).
   */
  transferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  transferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  transferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  transferLeadership(argument: _phantomdb_admin_v1_TransferLeadershipRequest, callback: grpc.requestCallback<_phantomdb_admin_v1_TransferLeadershipResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface AdminHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Adds a node as a non-voting learner; it starts receiving the log and snapshots.
   */
  AddLearner: grpc.handleUnaryCall<_phantomdb_admin_v1_AddLearnerRequest__Output, _phantomdb_admin_v1_AddLearnerResponse>;
  
  /**
   * Gives a new node (node_id 0) its id, answered by that node itself (never redirected). The
   * id is recorded durably (the data directory's IDENTITY) before the answer. Idempotent: the
   * same id again answers success; another id is refused with PH_IDENTITY_CONFLICT.
   */
  AssignIdentity: grpc.handleUnaryCall<_phantomdb_admin_v1_AssignIdentityRequest__Output, _phantomdb_admin_v1_NodeInfoResponse>;
  
  /**
   * Starts (or reports) a backup of the whole cluster, consistent at one cluster timestamp,
   * answered by the meta range's leader. Idempotent by backup_id: calling again answers the
   * backup's progress (COMPLETED from the destination's manifest once it finished).
   */
  Backup: grpc.handleUnaryCall<_phantomdb_admin_v1_BackupRequest__Output, _phantomdb_admin_v1_BackupProgress>;
  
  /**
   * The progress of a backup this node runs or ran (phase UNKNOWN when it has none by that id).
   */
  BackupStatus: grpc.handleUnaryCall<_phantomdb_admin_v1_BackupStatusRequest__Output, _phantomdb_admin_v1_BackupProgress>;
  
  /**
   * Members, their liveness and Raft progress, and range health, as the leader sees them.
   */
  ClusterStatus: grpc.handleUnaryCall<_phantomdb_admin_v1_ClusterStatusRequest__Output, _phantomdb_admin_v1_ClusterStatusResponse>;
  
  /**
   * Starts (or reports) moving every replica and lease off a node, then removing it.
   * PH_DECOMMISSION_REFUSED when the remaining nodes could not hold the replication factor.
   */
  Decommission: grpc.handleUnaryCall<_phantomdb_admin_v1_DecommissionRequest__Output, _phantomdb_admin_v1_DecommissionProgress>;
  
  /**
   * Deletes every object of one backup (<backup_id>/...) at the destination, as this node
   * reaches it (any node: a volume destination is mounted in every data node). For the
   * operator's retention of backups on a volume it does not mount. Idempotent.
   */
  DeleteBackup: grpc.handleUnaryCall<_phantomdb_admin_v1_DeleteBackupRequest__Output, _phantomdb_admin_v1_DeleteBackupResponse>;
  
  /**
   * Moves every lease (leadership) off a node; it keeps its replicas.
   */
  Drain: grpc.handleUnaryCall<_phantomdb_admin_v1_DrainRequest__Output, _phantomdb_admin_v1_DrainProgress>;
  
  /**
   * Node to node: exports [start_key, end_key) of one range as of `at` (MVCC versions as
   * ingestible SSTables), served by the range's leader (PH_NOT_LEADER elsewhere).
   */
  ExportRange: grpc.handleServerStreamingCall<_phantomdb_admin_v1_ExportRangeRequest__Output, _phantomdb_admin_v1_ExportRangeChunk>;
  
  /**
   * Raises the cluster version (the replicated record in the meta range) to target_version, or,
   * when it is empty, to the oldest binary version among the members. Refused with
   * PH_FINALIZE_REFUSED, listing the nodes, unless every member (not decommissioned) is LIVE
   * and runs a binary that can run the target; a target below the current cluster version is
   * refused too (no downgrade). Idempotent: the current version again answers success.
   */
  FinalizeClusterVersion: grpc.handleUnaryCall<_phantomdb_admin_v1_FinalizeClusterVersionRequest__Output, _phantomdb_admin_v1_FinalizeClusterVersionResponse>;
  
  /**
   * This node's own identity and state, answered by the node itself (never redirected).
   * node_id 0: a new node still waiting for AssignIdentity.
   */
  NodeInfo: grpc.handleUnaryCall<_phantomdb_admin_v1_NodeInfoRequest__Output, _phantomdb_admin_v1_NodeInfoResponse>;
  
  /**
   * Makes a caught-up learner a voter. PH_NOT_CAUGHT_UP (retriable) while it lags.
   */
  Promote: grpc.handleUnaryCall<_phantomdb_admin_v1_PromoteRequest__Output, _phantomdb_admin_v1_PromoteResponse>;
  
  /**
   * Every range the meta range's leader knows (its descriptors and each range's replicas and
   * leader as that node sees them), in range id order.
   */
  RangeList: grpc.handleUnaryCall<_phantomdb_admin_v1_RangeListRequest__Output, _phantomdb_admin_v1_RangeListResponse>;
  
  /**
   * Asks the placement driver (on the meta range's leader) to plan and start moves now instead
   * of at its next pass; answers the dry-run plan it starts from.
   */
  RebalanceNow: grpc.handleUnaryCall<_phantomdb_admin_v1_RebalancePlanRequest__Output, _phantomdb_admin_v1_RebalancePlanResponse>;
  
  /**
   * The moves the placement driver would make from the current cluster snapshot until balanced
   * (a dry run: nothing moves), the bytes they would copy, and each node's load before and after.
   */
  RebalancePlan: grpc.handleUnaryCall<_phantomdb_admin_v1_RebalancePlanRequest__Output, _phantomdb_admin_v1_RebalancePlanResponse>;
  
  /**
   * Cancels a decommission that has not finished; the node takes replicas again.
   */
  Recommission: grpc.handleUnaryCall<_phantomdb_admin_v1_RecommissionRequest__Output, _phantomdb_admin_v1_DecommissionProgress>;
  
  /**
   * Moves the cluster's leadership to a node (any suitable voter when target_node_id is 0).
   */
  TransferLeadership: grpc.handleUnaryCall<_phantomdb_admin_v1_TransferLeadershipRequest__Output, _phantomdb_admin_v1_TransferLeadershipResponse>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  AddLearner: MethodDefinition<_phantomdb_admin_v1_AddLearnerRequest, _phantomdb_admin_v1_AddLearnerResponse, _phantomdb_admin_v1_AddLearnerRequest__Output, _phantomdb_admin_v1_AddLearnerResponse__Output>
  AssignIdentity: MethodDefinition<_phantomdb_admin_v1_AssignIdentityRequest, _phantomdb_admin_v1_NodeInfoResponse, _phantomdb_admin_v1_AssignIdentityRequest__Output, _phantomdb_admin_v1_NodeInfoResponse__Output>
  Backup: MethodDefinition<_phantomdb_admin_v1_BackupRequest, _phantomdb_admin_v1_BackupProgress, _phantomdb_admin_v1_BackupRequest__Output, _phantomdb_admin_v1_BackupProgress__Output>
  BackupStatus: MethodDefinition<_phantomdb_admin_v1_BackupStatusRequest, _phantomdb_admin_v1_BackupProgress, _phantomdb_admin_v1_BackupStatusRequest__Output, _phantomdb_admin_v1_BackupProgress__Output>
  ClusterStatus: MethodDefinition<_phantomdb_admin_v1_ClusterStatusRequest, _phantomdb_admin_v1_ClusterStatusResponse, _phantomdb_admin_v1_ClusterStatusRequest__Output, _phantomdb_admin_v1_ClusterStatusResponse__Output>
  Decommission: MethodDefinition<_phantomdb_admin_v1_DecommissionRequest, _phantomdb_admin_v1_DecommissionProgress, _phantomdb_admin_v1_DecommissionRequest__Output, _phantomdb_admin_v1_DecommissionProgress__Output>
  DeleteBackup: MethodDefinition<_phantomdb_admin_v1_DeleteBackupRequest, _phantomdb_admin_v1_DeleteBackupResponse, _phantomdb_admin_v1_DeleteBackupRequest__Output, _phantomdb_admin_v1_DeleteBackupResponse__Output>
  Drain: MethodDefinition<_phantomdb_admin_v1_DrainRequest, _phantomdb_admin_v1_DrainProgress, _phantomdb_admin_v1_DrainRequest__Output, _phantomdb_admin_v1_DrainProgress__Output>
  ExportRange: MethodDefinition<_phantomdb_admin_v1_ExportRangeRequest, _phantomdb_admin_v1_ExportRangeChunk, _phantomdb_admin_v1_ExportRangeRequest__Output, _phantomdb_admin_v1_ExportRangeChunk__Output>
  FinalizeClusterVersion: MethodDefinition<_phantomdb_admin_v1_FinalizeClusterVersionRequest, _phantomdb_admin_v1_FinalizeClusterVersionResponse, _phantomdb_admin_v1_FinalizeClusterVersionRequest__Output, _phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>
  NodeInfo: MethodDefinition<_phantomdb_admin_v1_NodeInfoRequest, _phantomdb_admin_v1_NodeInfoResponse, _phantomdb_admin_v1_NodeInfoRequest__Output, _phantomdb_admin_v1_NodeInfoResponse__Output>
  Promote: MethodDefinition<_phantomdb_admin_v1_PromoteRequest, _phantomdb_admin_v1_PromoteResponse, _phantomdb_admin_v1_PromoteRequest__Output, _phantomdb_admin_v1_PromoteResponse__Output>
  RangeList: MethodDefinition<_phantomdb_admin_v1_RangeListRequest, _phantomdb_admin_v1_RangeListResponse, _phantomdb_admin_v1_RangeListRequest__Output, _phantomdb_admin_v1_RangeListResponse__Output>
  RebalanceNow: MethodDefinition<_phantomdb_admin_v1_RebalancePlanRequest, _phantomdb_admin_v1_RebalancePlanResponse, _phantomdb_admin_v1_RebalancePlanRequest__Output, _phantomdb_admin_v1_RebalancePlanResponse__Output>
  RebalancePlan: MethodDefinition<_phantomdb_admin_v1_RebalancePlanRequest, _phantomdb_admin_v1_RebalancePlanResponse, _phantomdb_admin_v1_RebalancePlanRequest__Output, _phantomdb_admin_v1_RebalancePlanResponse__Output>
  Recommission: MethodDefinition<_phantomdb_admin_v1_RecommissionRequest, _phantomdb_admin_v1_DecommissionProgress, _phantomdb_admin_v1_RecommissionRequest__Output, _phantomdb_admin_v1_DecommissionProgress__Output>
  TransferLeadership: MethodDefinition<_phantomdb_admin_v1_TransferLeadershipRequest, _phantomdb_admin_v1_TransferLeadershipResponse, _phantomdb_admin_v1_TransferLeadershipRequest__Output, _phantomdb_admin_v1_TransferLeadershipResponse__Output>
}
