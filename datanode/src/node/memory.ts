/**
 * In-memory LogStore and an in-process transport hub, for unit tests of the replica host
 * (several replicas in one process). Production uses the shared log engine and gRPC transport.
 */
import { assert } from '../assert.ts';
import { MemoryRaftStorage, type RaftStorage } from '../raft/storage.ts';
import type { ConfState, Entry, GroupId, HardState, Message, NodeId, SnapshotMeta, SnapshotRequest } from '../raft/types.ts';
import type { LogStore, PeerTransport, TransportHandlers } from './interfaces.ts';

export class MemoryLogStore implements LogStore {
  private readonly groups = new Map<GroupId, MemoryRaftStorage>();

  storageFor(groupId: GroupId): RaftStorage {
    return this.group(groupId);
  }

  hasGroup(groupId: GroupId): boolean {
    return this.groups.has(groupId);
  }

  removeGroup(groupId: GroupId): Promise<void> {
    this.groups.delete(groupId);
    return Promise.resolve();
  }

  groupIds(): GroupId[] {
    return [...this.groups.keys()].sort((a, b) => a - b);
  }

  createGroup(groupId: GroupId, confState: ConfState): Promise<void> {
    assert(!this.groups.has(groupId), `group ${groupId} exists`);
    this.groups.set(groupId, new MemoryRaftStorage(confState));
    return Promise.resolve();
  }

  append(groupId: GroupId, entries: readonly Entry[], hardState?: HardState): Promise<void> {
    const storage = this.group(groupId);
    storage.append(entries);
    if (hardState !== undefined) storage.setHardState(hardState);
    return Promise.resolve();
  }

  applySnapshot(groupId: GroupId, snapshot: SnapshotMeta): Promise<void> {
    this.group(groupId).applySnapshot(snapshot);
    return Promise.resolve();
  }

  createSnapshot(groupId: GroupId, index: number, confState: ConfState, reference: string): Promise<SnapshotMeta> {
    return Promise.resolve(this.group(groupId).createSnapshot(index, confState, reference));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private group(groupId: GroupId): MemoryRaftStorage {
    const storage = this.groups.get(groupId);
    assert(storage !== undefined, `no group ${groupId}`);
    return storage;
  }
}

/** Connects in-process replicas; `cut` simulates a partition of one node. */
export class MemoryTransportHub {
  private readonly nodes = new Map<NodeId, TransportHandlers>();
  private readonly isolated = new Set<NodeId>();

  register(id: NodeId, handlers: TransportHandlers): PeerTransport {
    this.nodes.set(id, handlers);
    return {
      send: (messages) => {
        for (const message of messages) this.deliver(id, message);
      },
      sendSnapshot: async (message, data) => {
        const target = this.reachable(id, message.to);
        if (target === undefined) throw new Error(`node ${message.to} unreachable`);
        await target.onSnapshotData({ fromNode: id, groupId: message.groupId, snapshotIndex: message.snapshot.index, snapshotTerm: message.snapshot.term }, data);
        this.deliver(id, message);
      },
      close: () => {
        this.nodes.delete(id);
        return Promise.resolve();
      },
    };
  }

  cut(id: NodeId, isolated: boolean): void {
    if (isolated) this.isolated.add(id);
    else this.isolated.delete(id);
  }

  private reachable(from: NodeId, to: NodeId): TransportHandlers | undefined {
    if (this.isolated.has(from) || this.isolated.has(to)) return undefined;
    return this.nodes.get(to);
  }

  private deliver(from: NodeId, message: Message): void {
    const target = this.reachable(from, message.to);
    const sender = this.nodes.get(from);
    if (target === undefined) {
      if (sender !== undefined) {
        setImmediate(() => {
          sender.onUnreachable(message.to);
          sender.onPeerDown?.(message.to);
        });
      }
      return;
    }
    setImmediate(() => target.onMessages([message]));
  }
}

export type { SnapshotRequest };
