/** The public surface of the Raft consensus core. */
export { RaftNode, defaultRaftOptions } from './raft.ts';
export type {
  ProgressStatus,
  ProposalRejection,
  ProposeResult,
  RaftConfig,
  RaftOptions,
  RaftStatus,
  ReadIndexResult,
  ReadOnlyOption,
  Rng,
  TransferResult,
} from './raft.ts';
export { CompactedError, MemoryRaftStorage, RaftStorageError, UnavailableError } from './storage.ts';
export type { InitialState, RaftStorage } from './storage.ts';
export { decodeConfChange, encodeConfChange } from './confchange.ts';
export * from './types.ts';
