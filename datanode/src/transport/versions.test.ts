/**
 * Binary versions in the handshake: each side learns the other's version, and a peer whose
 * binary cannot run the cluster version (the host's policy says why) is refused in both
 * directions with the stable reason "cluster-version-mismatch", while compatible peers talk.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId } from '../raft/types.ts';
import type { PeerVersion, PeerVersionPolicy } from './context.ts';
import { eventually, startTestNode, timeouts, type TestNode } from './transport.test-support.ts';

const started: TestNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.transport.stop()));
});

function heartbeat(from: NodeId, to: NodeId): Message[] {
  return [{ kind: 'Heartbeat', groupId: 1, from, to, term: 3, commit: 1, context: '', sentTick: 9 }];
}

/** A policy that refuses binaries older than `clusterVersion` (plain string order is enough here); an unknown (empty) version passes, as in the node. */
function policy(own: PeerVersion, clusterVersion: string): PeerVersionPolicy & { learnedVersions: Map<NodeId, PeerVersion> } {
  const learnedVersions = new Map<NodeId, PeerVersion>();
  return {
    own,
    learnedVersions,
    refuse: (peer) => (peer.binaryVersion !== '' && peer.binaryVersion < clusterVersion ? `binary ${peer.binaryVersion} cannot run cluster version ${clusterVersion}` : undefined),
    learned: (nodeId, peer) => learnedVersions.set(nodeId, peer),
  };
}

describe('versions in the transport handshake', () => {
  it('lets compatible peers talk and tells each the other one\'s binary version', async () => {
    const addresses = new Map<NodeId, string>();
    const pa = policy({ binaryVersion: '0.2.0', clusterVersionMin: '0.1.0' }, '0.1.0');
    const pb = policy({ binaryVersion: '0.1.0+abc', clusterVersionMin: '0.1.0' }, '0.1.0');
    const a = await startTestNode(1, addresses, { versions: pa });
    const b = await startTestNode(2, addresses, { versions: pb });
    started.push(a, b);
    a.transport.send(heartbeat(1, 2));
    await eventually(() => expect(b.receivedMessages()).toHaveLength(1), timeouts.delivery);
    expect(pa.learnedVersions.get(2)).toEqual({ binaryVersion: '0.1.0+abc', clusterVersionMin: '0.1.0' });
    expect(pb.learnedVersions.get(1)).toEqual({ binaryVersion: '0.2.0', clusterVersionMin: '0.1.0' });
  });

  it('refuses a peer whose binary cannot run the cluster version, in both directions', async () => {
    const addresses = new Map<NodeId, string>();
    const current = await startTestNode(1, addresses, { versions: policy({ binaryVersion: '0.2.0', clusterVersionMin: '0.1.0' }, '0.2.0') });
    const old = await startTestNode(2, addresses, { versions: policy({ binaryVersion: '0.1.0', clusterVersionMin: '0.1.0' }, '0.1.0') });
    started.push(current, old);
    // The old node calls the current one: refused by the current one (it knows cluster version 0.2.0).
    old.transport.send(heartbeat(2, 1));
    // The current node calls the old one: the old one accepts, the current one refuses the answer.
    current.transport.send(heartbeat(1, 2));
    await eventually(() => {
      const refused = current.logger.errors('transport.handshake_refused').find((e) => e.fields['reason'] === 'cluster-version-mismatch');
      expect(refused?.fields['detail']).toContain('binary 0.1.0 cannot run cluster version 0.2.0');
      expect(old.logger.errors('transport.handshake_rejected').some((e) => e.fields['reason'] === 'cluster-version-mismatch')).toBe(true);
      expect(current.logger.errors('transport.handshake_rejected').some((e) => e.fields['reason'] === 'cluster-version-mismatch')).toBe(true);
    }, timeouts.rejection);
    expect(current.receivedMessages()).toHaveLength(0);
    expect(old.receivedMessages()).toHaveLength(0);
  });

  it('carries no versions and checks none without a policy (builds before cluster versions)', async () => {
    const addresses = new Map<NodeId, string>();
    const withPolicy = policy({ binaryVersion: '0.2.0', clusterVersionMin: '0.1.0' }, '0.1.0');
    const a = await startTestNode(1, addresses, { versions: withPolicy });
    const legacy = await startTestNode(2, addresses);
    started.push(a, legacy);
    a.transport.send(heartbeat(1, 2));
    legacy.transport.send(heartbeat(2, 1));
    await eventually(() => {
      expect(legacy.receivedMessages()).toHaveLength(1);
      expect(a.receivedMessages()).toHaveLength(1);
    }, timeouts.delivery);
    expect(withPolicy.learnedVersions.get(2)).toEqual({ binaryVersion: '', clusterVersionMin: '' });
  });
});
