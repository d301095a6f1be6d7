import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AddLearnerRequest as _phantomdb_admin_v1_AddLearnerRequest, AddLearnerRequest__Output as _phantomdb_admin_v1_AddLearnerRequest__Output } from './phantomdb/admin/v1/AddLearnerRequest.ts';
import type { AddLearnerResponse as _phantomdb_admin_v1_AddLearnerResponse, AddLearnerResponse__Output as _phantomdb_admin_v1_AddLearnerResponse__Output } from './phantomdb/admin/v1/AddLearnerResponse.ts';
import type { AdminClient as _phantomdb_admin_v1_AdminClient, AdminDefinition as _phantomdb_admin_v1_AdminDefinition } from './phantomdb/admin/v1/Admin.ts';
import type { AssignIdentityRequest as _phantomdb_admin_v1_AssignIdentityRequest, AssignIdentityRequest__Output as _phantomdb_admin_v1_AssignIdentityRequest__Output } from './phantomdb/admin/v1/AssignIdentityRequest.ts';
import type { BackupProgress as _phantomdb_admin_v1_BackupProgress, BackupProgress__Output as _phantomdb_admin_v1_BackupProgress__Output } from './phantomdb/admin/v1/BackupProgress.ts';
import type { BackupRequest as _phantomdb_admin_v1_BackupRequest, BackupRequest__Output as _phantomdb_admin_v1_BackupRequest__Output } from './phantomdb/admin/v1/BackupRequest.ts';
import type { BackupS3Destination as _phantomdb_admin_v1_BackupS3Destination, BackupS3Destination__Output as _phantomdb_admin_v1_BackupS3Destination__Output } from './phantomdb/admin/v1/BackupS3Destination.ts';
import type { BackupStatusRequest as _phantomdb_admin_v1_BackupStatusRequest, BackupStatusRequest__Output as _phantomdb_admin_v1_BackupStatusRequest__Output } from './phantomdb/admin/v1/BackupStatusRequest.ts';
import type { BackupVolumeDestination as _phantomdb_admin_v1_BackupVolumeDestination, BackupVolumeDestination__Output as _phantomdb_admin_v1_BackupVolumeDestination__Output } from './phantomdb/admin/v1/BackupVolumeDestination.ts';
import type { ClusterStatusRequest as _phantomdb_admin_v1_ClusterStatusRequest, ClusterStatusRequest__Output as _phantomdb_admin_v1_ClusterStatusRequest__Output } from './phantomdb/admin/v1/ClusterStatusRequest.ts';
import type { ClusterStatusResponse as _phantomdb_admin_v1_ClusterStatusResponse, ClusterStatusResponse__Output as _phantomdb_admin_v1_ClusterStatusResponse__Output } from './phantomdb/admin/v1/ClusterStatusResponse.ts';
import type { DecommissionProgress as _phantomdb_admin_v1_DecommissionProgress, DecommissionProgress__Output as _phantomdb_admin_v1_DecommissionProgress__Output } from './phantomdb/admin/v1/DecommissionProgress.ts';
import type { DecommissionRequest as _phantomdb_admin_v1_DecommissionRequest, DecommissionRequest__Output as _phantomdb_admin_v1_DecommissionRequest__Output } from './phantomdb/admin/v1/DecommissionRequest.ts';
import type { DeleteBackupRequest as _phantomdb_admin_v1_DeleteBackupRequest, DeleteBackupRequest__Output as _phantomdb_admin_v1_DeleteBackupRequest__Output } from './phantomdb/admin/v1/DeleteBackupRequest.ts';
import type { DeleteBackupResponse as _phantomdb_admin_v1_DeleteBackupResponse, DeleteBackupResponse__Output as _phantomdb_admin_v1_DeleteBackupResponse__Output } from './phantomdb/admin/v1/DeleteBackupResponse.ts';
import type { DrainProgress as _phantomdb_admin_v1_DrainProgress, DrainProgress__Output as _phantomdb_admin_v1_DrainProgress__Output } from './phantomdb/admin/v1/DrainProgress.ts';
import type { DrainRequest as _phantomdb_admin_v1_DrainRequest, DrainRequest__Output as _phantomdb_admin_v1_DrainRequest__Output } from './phantomdb/admin/v1/DrainRequest.ts';
import type { ExportRangeChunk as _phantomdb_admin_v1_ExportRangeChunk, ExportRangeChunk__Output as _phantomdb_admin_v1_ExportRangeChunk__Output } from './phantomdb/admin/v1/ExportRangeChunk.ts';
import type { ExportRangeRequest as _phantomdb_admin_v1_ExportRangeRequest, ExportRangeRequest__Output as _phantomdb_admin_v1_ExportRangeRequest__Output } from './phantomdb/admin/v1/ExportRangeRequest.ts';
import type { FinalizeClusterVersionRequest as _phantomdb_admin_v1_FinalizeClusterVersionRequest, FinalizeClusterVersionRequest__Output as _phantomdb_admin_v1_FinalizeClusterVersionRequest__Output } from './phantomdb/admin/v1/FinalizeClusterVersionRequest.ts';
import type { FinalizeClusterVersionResponse as _phantomdb_admin_v1_FinalizeClusterVersionResponse, FinalizeClusterVersionResponse__Output as _phantomdb_admin_v1_FinalizeClusterVersionResponse__Output } from './phantomdb/admin/v1/FinalizeClusterVersionResponse.ts';
import type { Member as _phantomdb_admin_v1_Member, Member__Output as _phantomdb_admin_v1_Member__Output } from './phantomdb/admin/v1/Member.ts';
import type { NodeInfoRequest as _phantomdb_admin_v1_NodeInfoRequest, NodeInfoRequest__Output as _phantomdb_admin_v1_NodeInfoRequest__Output } from './phantomdb/admin/v1/NodeInfoRequest.ts';
import type { NodeInfoResponse as _phantomdb_admin_v1_NodeInfoResponse, NodeInfoResponse__Output as _phantomdb_admin_v1_NodeInfoResponse__Output } from './phantomdb/admin/v1/NodeInfoResponse.ts';
import type { NodeLoadChange as _phantomdb_admin_v1_NodeLoadChange, NodeLoadChange__Output as _phantomdb_admin_v1_NodeLoadChange__Output } from './phantomdb/admin/v1/NodeLoadChange.ts';
import type { NodeStatus as _phantomdb_admin_v1_NodeStatus, NodeStatus__Output as _phantomdb_admin_v1_NodeStatus__Output } from './phantomdb/admin/v1/NodeStatus.ts';
import type { PlannedMove as _phantomdb_admin_v1_PlannedMove, PlannedMove__Output as _phantomdb_admin_v1_PlannedMove__Output } from './phantomdb/admin/v1/PlannedMove.ts';
import type { PromoteRequest as _phantomdb_admin_v1_PromoteRequest, PromoteRequest__Output as _phantomdb_admin_v1_PromoteRequest__Output } from './phantomdb/admin/v1/PromoteRequest.ts';
import type { PromoteResponse as _phantomdb_admin_v1_PromoteResponse, PromoteResponse__Output as _phantomdb_admin_v1_PromoteResponse__Output } from './phantomdb/admin/v1/PromoteResponse.ts';
import type { RaftProgress as _phantomdb_admin_v1_RaftProgress, RaftProgress__Output as _phantomdb_admin_v1_RaftProgress__Output } from './phantomdb/admin/v1/RaftProgress.ts';
import type { RangeInfo as _phantomdb_admin_v1_RangeInfo, RangeInfo__Output as _phantomdb_admin_v1_RangeInfo__Output } from './phantomdb/admin/v1/RangeInfo.ts';
import type { RangeListRequest as _phantomdb_admin_v1_RangeListRequest, RangeListRequest__Output as _phantomdb_admin_v1_RangeListRequest__Output } from './phantomdb/admin/v1/RangeListRequest.ts';
import type { RangeListResponse as _phantomdb_admin_v1_RangeListResponse, RangeListResponse__Output as _phantomdb_admin_v1_RangeListResponse__Output } from './phantomdb/admin/v1/RangeListResponse.ts';
import type { RangeReplica as _phantomdb_admin_v1_RangeReplica, RangeReplica__Output as _phantomdb_admin_v1_RangeReplica__Output } from './phantomdb/admin/v1/RangeReplica.ts';
import type { RebalancePlanRequest as _phantomdb_admin_v1_RebalancePlanRequest, RebalancePlanRequest__Output as _phantomdb_admin_v1_RebalancePlanRequest__Output } from './phantomdb/admin/v1/RebalancePlanRequest.ts';
import type { RebalancePlanResponse as _phantomdb_admin_v1_RebalancePlanResponse, RebalancePlanResponse__Output as _phantomdb_admin_v1_RebalancePlanResponse__Output } from './phantomdb/admin/v1/RebalancePlanResponse.ts';
import type { RecommissionRequest as _phantomdb_admin_v1_RecommissionRequest, RecommissionRequest__Output as _phantomdb_admin_v1_RecommissionRequest__Output } from './phantomdb/admin/v1/RecommissionRequest.ts';
import type { TransferLeadershipRequest as _phantomdb_admin_v1_TransferLeadershipRequest, TransferLeadershipRequest__Output as _phantomdb_admin_v1_TransferLeadershipRequest__Output } from './phantomdb/admin/v1/TransferLeadershipRequest.ts';
import type { TransferLeadershipResponse as _phantomdb_admin_v1_TransferLeadershipResponse, TransferLeadershipResponse__Output as _phantomdb_admin_v1_TransferLeadershipResponse__Output } from './phantomdb/admin/v1/TransferLeadershipResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  phantomdb: {
    admin: {
      v1: {
        AddLearnerRequest: MessageTypeDefinition<_phantomdb_admin_v1_AddLearnerRequest, _phantomdb_admin_v1_AddLearnerRequest__Output>
        AddLearnerResponse: MessageTypeDefinition<_phantomdb_admin_v1_AddLearnerResponse, _phantomdb_admin_v1_AddLearnerResponse__Output>
        Admin: SubtypeConstructor<typeof grpc.Client, _phantomdb_admin_v1_AdminClient> & { service: _phantomdb_admin_v1_AdminDefinition }
        AssignIdentityRequest: MessageTypeDefinition<_phantomdb_admin_v1_AssignIdentityRequest, _phantomdb_admin_v1_AssignIdentityRequest__Output>
        BackupProgress: MessageTypeDefinition<_phantomdb_admin_v1_BackupProgress, _phantomdb_admin_v1_BackupProgress__Output>
        BackupRequest: MessageTypeDefinition<_phantomdb_admin_v1_BackupRequest, _phantomdb_admin_v1_BackupRequest__Output>
        BackupS3Destination: MessageTypeDefinition<_phantomdb_admin_v1_BackupS3Destination, _phantomdb_admin_v1_BackupS3Destination__Output>
        BackupStatusRequest: MessageTypeDefinition<_phantomdb_admin_v1_BackupStatusRequest, _phantomdb_admin_v1_BackupStatusRequest__Output>
        BackupVolumeDestination: MessageTypeDefinition<_phantomdb_admin_v1_BackupVolumeDestination, _phantomdb_admin_v1_BackupVolumeDestination__Output>
        ClusterStatusRequest: MessageTypeDefinition<_phantomdb_admin_v1_ClusterStatusRequest, _phantomdb_admin_v1_ClusterStatusRequest__Output>
        ClusterStatusResponse: MessageTypeDefinition<_phantomdb_admin_v1_ClusterStatusResponse, _phantomdb_admin_v1_ClusterStatusResponse__Output>
        DecommissionProgress: MessageTypeDefinition<_phantomdb_admin_v1_DecommissionProgress, _phantomdb_admin_v1_DecommissionProgress__Output>
        DecommissionRequest: MessageTypeDefinition<_phantomdb_admin_v1_DecommissionRequest, _phantomdb_admin_v1_DecommissionRequest__Output>
        DeleteBackupRequest: MessageTypeDefinition<_phantomdb_admin_v1_DeleteBackupRequest, _phantomdb_admin_v1_DeleteBackupRequest__Output>
        DeleteBackupResponse: MessageTypeDefinition<_phantomdb_admin_v1_DeleteBackupResponse, _phantomdb_admin_v1_DeleteBackupResponse__Output>
        DrainProgress: MessageTypeDefinition<_phantomdb_admin_v1_DrainProgress, _phantomdb_admin_v1_DrainProgress__Output>
        DrainRequest: MessageTypeDefinition<_phantomdb_admin_v1_DrainRequest, _phantomdb_admin_v1_DrainRequest__Output>
        ExportRangeChunk: MessageTypeDefinition<_phantomdb_admin_v1_ExportRangeChunk, _phantomdb_admin_v1_ExportRangeChunk__Output>
        ExportRangeRequest: MessageTypeDefinition<_phantomdb_admin_v1_ExportRangeRequest, _phantomdb_admin_v1_ExportRangeRequest__Output>
        FinalizeClusterVersionRequest: MessageTypeDefinition<_phantomdb_admin_v1_FinalizeClusterVersionRequest, _phantomdb_admin_v1_FinalizeClusterVersionRequest__Output>
        FinalizeClusterVersionResponse: MessageTypeDefinition<_phantomdb_admin_v1_FinalizeClusterVersionResponse, _phantomdb_admin_v1_FinalizeClusterVersionResponse__Output>
        Liveness: EnumTypeDefinition
        Member: MessageTypeDefinition<_phantomdb_admin_v1_Member, _phantomdb_admin_v1_Member__Output>
        Membership: EnumTypeDefinition
        NodeInfoRequest: MessageTypeDefinition<_phantomdb_admin_v1_NodeInfoRequest, _phantomdb_admin_v1_NodeInfoRequest__Output>
        NodeInfoResponse: MessageTypeDefinition<_phantomdb_admin_v1_NodeInfoResponse, _phantomdb_admin_v1_NodeInfoResponse__Output>
        NodeLoadChange: MessageTypeDefinition<_phantomdb_admin_v1_NodeLoadChange, _phantomdb_admin_v1_NodeLoadChange__Output>
        NodeStatus: MessageTypeDefinition<_phantomdb_admin_v1_NodeStatus, _phantomdb_admin_v1_NodeStatus__Output>
        PlannedMove: MessageTypeDefinition<_phantomdb_admin_v1_PlannedMove, _phantomdb_admin_v1_PlannedMove__Output>
        PromoteRequest: MessageTypeDefinition<_phantomdb_admin_v1_PromoteRequest, _phantomdb_admin_v1_PromoteRequest__Output>
        PromoteResponse: MessageTypeDefinition<_phantomdb_admin_v1_PromoteResponse, _phantomdb_admin_v1_PromoteResponse__Output>
        RaftProgress: MessageTypeDefinition<_phantomdb_admin_v1_RaftProgress, _phantomdb_admin_v1_RaftProgress__Output>
        RaftRole: EnumTypeDefinition
        RangeInfo: MessageTypeDefinition<_phantomdb_admin_v1_RangeInfo, _phantomdb_admin_v1_RangeInfo__Output>
        RangeListRequest: MessageTypeDefinition<_phantomdb_admin_v1_RangeListRequest, _phantomdb_admin_v1_RangeListRequest__Output>
        RangeListResponse: MessageTypeDefinition<_phantomdb_admin_v1_RangeListResponse, _phantomdb_admin_v1_RangeListResponse__Output>
        RangeReplica: MessageTypeDefinition<_phantomdb_admin_v1_RangeReplica, _phantomdb_admin_v1_RangeReplica__Output>
        RebalancePlanRequest: MessageTypeDefinition<_phantomdb_admin_v1_RebalancePlanRequest, _phantomdb_admin_v1_RebalancePlanRequest__Output>
        RebalancePlanResponse: MessageTypeDefinition<_phantomdb_admin_v1_RebalancePlanResponse, _phantomdb_admin_v1_RebalancePlanResponse__Output>
        RecommissionRequest: MessageTypeDefinition<_phantomdb_admin_v1_RecommissionRequest, _phantomdb_admin_v1_RecommissionRequest__Output>
        TransferLeadershipRequest: MessageTypeDefinition<_phantomdb_admin_v1_TransferLeadershipRequest, _phantomdb_admin_v1_TransferLeadershipRequest__Output>
        TransferLeadershipResponse: MessageTypeDefinition<_phantomdb_admin_v1_TransferLeadershipResponse, _phantomdb_admin_v1_TransferLeadershipResponse__Output>
      }
    }
  }
}

