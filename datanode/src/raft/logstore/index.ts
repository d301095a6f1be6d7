/** The node's shared Raft log engine: one segmented log for every Raft group, with group commit. */
export { RaftLogEngine, type LogClock, type RaftLogEngineOptions, type RaftLogStats } from './engine.ts';
export { DurableRaftStorage } from './storage-view.ts';
export { segmentFileName } from './segments.ts';
