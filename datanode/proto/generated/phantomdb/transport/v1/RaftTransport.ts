// Original file: datanode/proto/phantomdb.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { FramesSummary as _phantomdb_transport_v1_FramesSummary, FramesSummary__Output as _phantomdb_transport_v1_FramesSummary__Output } from '../../../phantomdb/transport/v1/FramesSummary.ts';
import type { HelloRequest as _phantomdb_transport_v1_HelloRequest, HelloRequest__Output as _phantomdb_transport_v1_HelloRequest__Output } from '../../../phantomdb/transport/v1/HelloRequest.ts';
import type { HelloResponse as _phantomdb_transport_v1_HelloResponse, HelloResponse__Output as _phantomdb_transport_v1_HelloResponse__Output } from '../../../phantomdb/transport/v1/HelloResponse.ts';
import type { RaftFrame as _phantomdb_transport_v1_RaftFrame, RaftFrame__Output as _phantomdb_transport_v1_RaftFrame__Output } from '../../../phantomdb/transport/v1/RaftFrame.ts';
import type { SnapshotAck as _phantomdb_transport_v1_SnapshotAck, SnapshotAck__Output as _phantomdb_transport_v1_SnapshotAck__Output } from '../../../phantomdb/transport/v1/SnapshotAck.ts';
import type { SnapshotChunk as _phantomdb_transport_v1_SnapshotChunk, SnapshotChunk__Output as _phantomdb_transport_v1_SnapshotChunk__Output } from '../../../phantomdb/transport/v1/SnapshotChunk.ts';

export interface RaftTransportClient extends grpc.Client {
  /**
   * One long-lived stream per (sender, receiver) pair carrying Raft frames from the caller.
   * The server answers only when the stream ends; a malformed frame ends it with an error status.
   * Call metadata carries x-phantomdb-cluster-id, x-phantomdb-node-id and
   * x-phantomdb-protocol-version, which every frame header repeats.
   */
  Frames(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  Frames(metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  Frames(options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  Frames(callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  /**
   * One long-lived stream per (sender, receiver) pair carrying Raft frames from the caller.
   * The server answers only when the stream ends; a malformed frame ends it with an error status.
   * Call metadata carries x-phantomdb-cluster-id, x-phantomdb-node-id and
   * x-phantomdb-protocol-version, which every frame header repeats.
   */
  frames(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  frames(metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  frames(options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  frames(callback: grpc.requestCallback<_phantomdb_transport_v1_FramesSummary__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_RaftFrame>;
  
  /**
   * Handshake before any stream: both sides check cluster id and pick a protocol version.
   * A refusal is an ordinary response with accepted = false and a reason, so that both sides can
   * log exactly what the other one is.
   */
  Hello(argument: _phantomdb_transport_v1_HelloRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  Hello(argument: _phantomdb_transport_v1_HelloRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  Hello(argument: _phantomdb_transport_v1_HelloRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  Hello(argument: _phantomdb_transport_v1_HelloRequest, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Handshake before any stream: both sides check cluster id and pick a protocol version.
   * A refusal is an ordinary response with accepted = false and a reason, so that both sides can
   * log exactly what the other one is.
   */
  hello(argument: _phantomdb_transport_v1_HelloRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  hello(argument: _phantomdb_transport_v1_HelloRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  hello(argument: _phantomdb_transport_v1_HelloRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  hello(argument: _phantomdb_transport_v1_HelloRequest, callback: grpc.requestCallback<_phantomdb_transport_v1_HelloResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * A snapshot's data: first a header, then data chunks, then a trailer with the byte count and
   * checksum. The receiver acknowledges once the host has consumed and accepted all of it.
   */
  SnapshotStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  SnapshotStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  SnapshotStream(options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  SnapshotStream(callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  /**
   * A snapshot's data: first a header, then data chunks, then a trailer with the byte count and
   * checksum. The receiver acknowledges once the host has consumed and accepted all of it.
   */
  snapshotStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  snapshotStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  snapshotStream(options: grpc.CallOptions, callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  snapshotStream(callback: grpc.requestCallback<_phantomdb_transport_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_phantomdb_transport_v1_SnapshotChunk>;
  
}

export interface RaftTransportHandlers extends grpc.UntypedServiceImplementation {
  /**
   * One long-lived stream per (sender, receiver) pair carrying Raft frames from the caller.
   * The server answers only when the stream ends; a malformed frame ends it with an error status.
   * Call metadata carries x-phantomdb-cluster-id, x-phantomdb-node-id and
   * x-phantomdb-protocol-version, which every frame header repeats.
   */
  Frames: grpc.handleClientStreamingCall<_phantomdb_transport_v1_RaftFrame__Output, _phantomdb_transport_v1_FramesSummary>;
  
  /**
   * Handshake before any stream: both sides check cluster id and pick a protocol version.
   * A refusal is an ordinary response with accepted = false and a reason, so that both sides can
   * log exactly what the other one is.
   */
  Hello: grpc.handleUnaryCall<_phantomdb_transport_v1_HelloRequest__Output, _phantomdb_transport_v1_HelloResponse>;
  
  /**
   * A snapshot's data: first a header, then data chunks, then a trailer with the byte count and
   * checksum. The receiver acknowledges once the host has consumed and accepted all of it.
   */
  SnapshotStream: grpc.handleClientStreamingCall<_phantomdb_transport_v1_SnapshotChunk__Output, _phantomdb_transport_v1_SnapshotAck>;
  
}

export interface RaftTransportDefinition extends grpc.ServiceDefinition {
  Frames: MethodDefinition<_phantomdb_transport_v1_RaftFrame, _phantomdb_transport_v1_FramesSummary, _phantomdb_transport_v1_RaftFrame__Output, _phantomdb_transport_v1_FramesSummary__Output>
  Hello: MethodDefinition<_phantomdb_transport_v1_HelloRequest, _phantomdb_transport_v1_HelloResponse, _phantomdb_transport_v1_HelloRequest__Output, _phantomdb_transport_v1_HelloResponse__Output>
  SnapshotStream: MethodDefinition<_phantomdb_transport_v1_SnapshotChunk, _phantomdb_transport_v1_SnapshotAck, _phantomdb_transport_v1_SnapshotChunk__Output, _phantomdb_transport_v1_SnapshotAck__Output>
}
