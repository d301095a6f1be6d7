// Original file: datanode/proto/kv.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CompareAndSetRequest as _phantomdb_kv_v1_CompareAndSetRequest, CompareAndSetRequest__Output as _phantomdb_kv_v1_CompareAndSetRequest__Output } from '../../../phantomdb/kv/v1/CompareAndSetRequest.ts';
import type { CompareAndSetResponse as _phantomdb_kv_v1_CompareAndSetResponse, CompareAndSetResponse__Output as _phantomdb_kv_v1_CompareAndSetResponse__Output } from '../../../phantomdb/kv/v1/CompareAndSetResponse.ts';
import type { DeleteRequest as _phantomdb_kv_v1_DeleteRequest, DeleteRequest__Output as _phantomdb_kv_v1_DeleteRequest__Output } from '../../../phantomdb/kv/v1/DeleteRequest.ts';
import type { DeleteResponse as _phantomdb_kv_v1_DeleteResponse, DeleteResponse__Output as _phantomdb_kv_v1_DeleteResponse__Output } from '../../../phantomdb/kv/v1/DeleteResponse.ts';
import type { GetRequest as _phantomdb_kv_v1_GetRequest, GetRequest__Output as _phantomdb_kv_v1_GetRequest__Output } from '../../../phantomdb/kv/v1/GetRequest.ts';
import type { GetResponse as _phantomdb_kv_v1_GetResponse, GetResponse__Output as _phantomdb_kv_v1_GetResponse__Output } from '../../../phantomdb/kv/v1/GetResponse.ts';
import type { PutRequest as _phantomdb_kv_v1_PutRequest, PutRequest__Output as _phantomdb_kv_v1_PutRequest__Output } from '../../../phantomdb/kv/v1/PutRequest.ts';
import type { PutResponse as _phantomdb_kv_v1_PutResponse, PutResponse__Output as _phantomdb_kv_v1_PutResponse__Output } from '../../../phantomdb/kv/v1/PutResponse.ts';
import type { ScanRequest as _phantomdb_kv_v1_ScanRequest, ScanRequest__Output as _phantomdb_kv_v1_ScanRequest__Output } from '../../../phantomdb/kv/v1/ScanRequest.ts';
import type { ScanResponse as _phantomdb_kv_v1_ScanResponse, ScanResponse__Output as _phantomdb_kv_v1_ScanResponse__Output } from '../../../phantomdb/kv/v1/ScanResponse.ts';

export interface KVClient extends grpc.Client {
  /**
   * Sets value if the current value equals expected (or, with expect_absent, if the key is absent).
   */
  CompareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  CompareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  CompareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  CompareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Sets value if the current value equals expected (or, with expect_absent, if the key is absent).
   */
  compareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  compareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  compareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  compareAndSet(argument: _phantomdb_kv_v1_CompareAndSetRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_CompareAndSetResponse__Output>): grpc.ClientUnaryCall;
  
  Delete(argument: _phantomdb_kv_v1_DeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _phantomdb_kv_v1_DeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _phantomdb_kv_v1_DeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _phantomdb_kv_v1_DeleteRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _phantomdb_kv_v1_DeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _phantomdb_kv_v1_DeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _phantomdb_kv_v1_DeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _phantomdb_kv_v1_DeleteRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  
  Get(argument: _phantomdb_kv_v1_GetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _phantomdb_kv_v1_GetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _phantomdb_kv_v1_GetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _phantomdb_kv_v1_GetRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _phantomdb_kv_v1_GetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _phantomdb_kv_v1_GetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _phantomdb_kv_v1_GetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _phantomdb_kv_v1_GetRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_GetResponse__Output>): grpc.ClientUnaryCall;
  
  Put(argument: _phantomdb_kv_v1_PutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  Put(argument: _phantomdb_kv_v1_PutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  Put(argument: _phantomdb_kv_v1_PutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  Put(argument: _phantomdb_kv_v1_PutRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  put(argument: _phantomdb_kv_v1_PutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  put(argument: _phantomdb_kv_v1_PutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  put(argument: _phantomdb_kv_v1_PutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  put(argument: _phantomdb_kv_v1_PutRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Rows with start <= key < end (an empty end: to the last key), in key order, at most limit.
   */
  Scan(argument: _phantomdb_kv_v1_ScanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  Scan(argument: _phantomdb_kv_v1_ScanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  Scan(argument: _phantomdb_kv_v1_ScanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  Scan(argument: _phantomdb_kv_v1_ScanRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Rows with start <= key < end (an empty end: to the last key), in key order, at most limit.
   */
  scan(argument: _phantomdb_kv_v1_ScanRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  scan(argument: _phantomdb_kv_v1_ScanRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  scan(argument: _phantomdb_kv_v1_ScanRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  scan(argument: _phantomdb_kv_v1_ScanRequest, callback: grpc.requestCallback<_phantomdb_kv_v1_ScanResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface KVHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Sets value if the current value equals expected (or, with expect_absent, if the key is absent).
   */
  CompareAndSet: grpc.handleUnaryCall<_phantomdb_kv_v1_CompareAndSetRequest__Output, _phantomdb_kv_v1_CompareAndSetResponse>;
  
  Delete: grpc.handleUnaryCall<_phantomdb_kv_v1_DeleteRequest__Output, _phantomdb_kv_v1_DeleteResponse>;
  
  Get: grpc.handleUnaryCall<_phantomdb_kv_v1_GetRequest__Output, _phantomdb_kv_v1_GetResponse>;
  
  Put: grpc.handleUnaryCall<_phantomdb_kv_v1_PutRequest__Output, _phantomdb_kv_v1_PutResponse>;
  
  /**
   * Rows with start <= key < end (an empty end: to the last key), in key order, at most limit.
   */
  Scan: grpc.handleUnaryCall<_phantomdb_kv_v1_ScanRequest__Output, _phantomdb_kv_v1_ScanResponse>;
  
}

export interface KVDefinition extends grpc.ServiceDefinition {
  CompareAndSet: MethodDefinition<_phantomdb_kv_v1_CompareAndSetRequest, _phantomdb_kv_v1_CompareAndSetResponse, _phantomdb_kv_v1_CompareAndSetRequest__Output, _phantomdb_kv_v1_CompareAndSetResponse__Output>
  Delete: MethodDefinition<_phantomdb_kv_v1_DeleteRequest, _phantomdb_kv_v1_DeleteResponse, _phantomdb_kv_v1_DeleteRequest__Output, _phantomdb_kv_v1_DeleteResponse__Output>
  Get: MethodDefinition<_phantomdb_kv_v1_GetRequest, _phantomdb_kv_v1_GetResponse, _phantomdb_kv_v1_GetRequest__Output, _phantomdb_kv_v1_GetResponse__Output>
  Put: MethodDefinition<_phantomdb_kv_v1_PutRequest, _phantomdb_kv_v1_PutResponse, _phantomdb_kv_v1_PutRequest__Output, _phantomdb_kv_v1_PutResponse__Output>
  Scan: MethodDefinition<_phantomdb_kv_v1_ScanRequest, _phantomdb_kv_v1_ScanResponse, _phantomdb_kv_v1_ScanRequest__Output, _phantomdb_kv_v1_ScanResponse__Output>
}
