import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ChangeReplicasRequest as _phantomdb_kv_v1_ChangeReplicasRequest, ChangeReplicasRequest__Output as _phantomdb_kv_v1_ChangeReplicasRequest__Output } from './phantomdb/kv/v1/ChangeReplicasRequest.ts';
import type { ChangeReplicasResponse as _phantomdb_kv_v1_ChangeReplicasResponse, ChangeReplicasResponse__Output as _phantomdb_kv_v1_ChangeReplicasResponse__Output } from './phantomdb/kv/v1/ChangeReplicasResponse.ts';
import type { CompareAndSetRequest as _phantomdb_kv_v1_CompareAndSetRequest, CompareAndSetRequest__Output as _phantomdb_kv_v1_CompareAndSetRequest__Output } from './phantomdb/kv/v1/CompareAndSetRequest.ts';
import type { CompareAndSetResponse as _phantomdb_kv_v1_CompareAndSetResponse, CompareAndSetResponse__Output as _phantomdb_kv_v1_CompareAndSetResponse__Output } from './phantomdb/kv/v1/CompareAndSetResponse.ts';
import type { DeleteRequest as _phantomdb_kv_v1_DeleteRequest, DeleteRequest__Output as _phantomdb_kv_v1_DeleteRequest__Output } from './phantomdb/kv/v1/DeleteRequest.ts';
import type { DeleteResponse as _phantomdb_kv_v1_DeleteResponse, DeleteResponse__Output as _phantomdb_kv_v1_DeleteResponse__Output } from './phantomdb/kv/v1/DeleteResponse.ts';
import type { GetRequest as _phantomdb_kv_v1_GetRequest, GetRequest__Output as _phantomdb_kv_v1_GetRequest__Output } from './phantomdb/kv/v1/GetRequest.ts';
import type { GetResponse as _phantomdb_kv_v1_GetResponse, GetResponse__Output as _phantomdb_kv_v1_GetResponse__Output } from './phantomdb/kv/v1/GetResponse.ts';
import type { HeartbeatRequest as _phantomdb_kv_v1_HeartbeatRequest, HeartbeatRequest__Output as _phantomdb_kv_v1_HeartbeatRequest__Output } from './phantomdb/kv/v1/HeartbeatRequest.ts';
import type { HeartbeatResponse as _phantomdb_kv_v1_HeartbeatResponse, HeartbeatResponse__Output as _phantomdb_kv_v1_HeartbeatResponse__Output } from './phantomdb/kv/v1/HeartbeatResponse.ts';
import type { JoinRequest as _phantomdb_kv_v1_JoinRequest, JoinRequest__Output as _phantomdb_kv_v1_JoinRequest__Output } from './phantomdb/kv/v1/JoinRequest.ts';
import type { JoinResponse as _phantomdb_kv_v1_JoinResponse, JoinResponse__Output as _phantomdb_kv_v1_JoinResponse__Output } from './phantomdb/kv/v1/JoinResponse.ts';
import type { KVClient as _phantomdb_kv_v1_KVClient, KVDefinition as _phantomdb_kv_v1_KVDefinition } from './phantomdb/kv/v1/KV.ts';
import type { KeyValue as _phantomdb_kv_v1_KeyValue, KeyValue__Output as _phantomdb_kv_v1_KeyValue__Output } from './phantomdb/kv/v1/KeyValue.ts';
import type { Member as _phantomdb_kv_v1_Member, Member__Output as _phantomdb_kv_v1_Member__Output } from './phantomdb/kv/v1/Member.ts';
import type { MembershipClient as _phantomdb_kv_v1_MembershipClient, MembershipDefinition as _phantomdb_kv_v1_MembershipDefinition } from './phantomdb/kv/v1/Membership.ts';
import type { PutRequest as _phantomdb_kv_v1_PutRequest, PutRequest__Output as _phantomdb_kv_v1_PutRequest__Output } from './phantomdb/kv/v1/PutRequest.ts';
import type { PutResponse as _phantomdb_kv_v1_PutResponse, PutResponse__Output as _phantomdb_kv_v1_PutResponse__Output } from './phantomdb/kv/v1/PutResponse.ts';
import type { RecordRangesRequest as _phantomdb_kv_v1_RecordRangesRequest, RecordRangesRequest__Output as _phantomdb_kv_v1_RecordRangesRequest__Output } from './phantomdb/kv/v1/RecordRangesRequest.ts';
import type { RecordRangesResponse as _phantomdb_kv_v1_RecordRangesResponse, RecordRangesResponse__Output as _phantomdb_kv_v1_RecordRangesResponse__Output } from './phantomdb/kv/v1/RecordRangesResponse.ts';
import type { ScanRequest as _phantomdb_kv_v1_ScanRequest, ScanRequest__Output as _phantomdb_kv_v1_ScanRequest__Output } from './phantomdb/kv/v1/ScanRequest.ts';
import type { ScanResponse as _phantomdb_kv_v1_ScanResponse, ScanResponse__Output as _phantomdb_kv_v1_ScanResponse__Output } from './phantomdb/kv/v1/ScanResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  phantomdb: {
    kv: {
      v1: {
        ChangeReplicasRequest: MessageTypeDefinition<_phantomdb_kv_v1_ChangeReplicasRequest, _phantomdb_kv_v1_ChangeReplicasRequest__Output>
        ChangeReplicasResponse: MessageTypeDefinition<_phantomdb_kv_v1_ChangeReplicasResponse, _phantomdb_kv_v1_ChangeReplicasResponse__Output>
        CompareAndSetRequest: MessageTypeDefinition<_phantomdb_kv_v1_CompareAndSetRequest, _phantomdb_kv_v1_CompareAndSetRequest__Output>
        CompareAndSetResponse: MessageTypeDefinition<_phantomdb_kv_v1_CompareAndSetResponse, _phantomdb_kv_v1_CompareAndSetResponse__Output>
        DeleteRequest: MessageTypeDefinition<_phantomdb_kv_v1_DeleteRequest, _phantomdb_kv_v1_DeleteRequest__Output>
        DeleteResponse: MessageTypeDefinition<_phantomdb_kv_v1_DeleteResponse, _phantomdb_kv_v1_DeleteResponse__Output>
        GetRequest: MessageTypeDefinition<_phantomdb_kv_v1_GetRequest, _phantomdb_kv_v1_GetRequest__Output>
        GetResponse: MessageTypeDefinition<_phantomdb_kv_v1_GetResponse, _phantomdb_kv_v1_GetResponse__Output>
        HeartbeatRequest: MessageTypeDefinition<_phantomdb_kv_v1_HeartbeatRequest, _phantomdb_kv_v1_HeartbeatRequest__Output>
        HeartbeatResponse: MessageTypeDefinition<_phantomdb_kv_v1_HeartbeatResponse, _phantomdb_kv_v1_HeartbeatResponse__Output>
        JoinRequest: MessageTypeDefinition<_phantomdb_kv_v1_JoinRequest, _phantomdb_kv_v1_JoinRequest__Output>
        JoinResponse: MessageTypeDefinition<_phantomdb_kv_v1_JoinResponse, _phantomdb_kv_v1_JoinResponse__Output>
        KV: SubtypeConstructor<typeof grpc.Client, _phantomdb_kv_v1_KVClient> & { service: _phantomdb_kv_v1_KVDefinition }
        KeyValue: MessageTypeDefinition<_phantomdb_kv_v1_KeyValue, _phantomdb_kv_v1_KeyValue__Output>
        Member: MessageTypeDefinition<_phantomdb_kv_v1_Member, _phantomdb_kv_v1_Member__Output>
        /**
         * Cluster membership: a new node asks to be added as a learner; the leader promotes it to voter
         * once it has caught up.
         */
        Membership: SubtypeConstructor<typeof grpc.Client, _phantomdb_kv_v1_MembershipClient> & { service: _phantomdb_kv_v1_MembershipDefinition }
        PutRequest: MessageTypeDefinition<_phantomdb_kv_v1_PutRequest, _phantomdb_kv_v1_PutRequest__Output>
        PutResponse: MessageTypeDefinition<_phantomdb_kv_v1_PutResponse, _phantomdb_kv_v1_PutResponse__Output>
        RecordRangesRequest: MessageTypeDefinition<_phantomdb_kv_v1_RecordRangesRequest, _phantomdb_kv_v1_RecordRangesRequest__Output>
        RecordRangesResponse: MessageTypeDefinition<_phantomdb_kv_v1_RecordRangesResponse, _phantomdb_kv_v1_RecordRangesResponse__Output>
        ScanRequest: MessageTypeDefinition<_phantomdb_kv_v1_ScanRequest, _phantomdb_kv_v1_ScanRequest__Output>
        ScanResponse: MessageTypeDefinition<_phantomdb_kv_v1_ScanResponse, _phantomdb_kv_v1_ScanResponse__Output>
      }
    }
  }
}

