/**
 * The pure part of the rollout: which pods are outdated and in which order they are replaced.
 * The journaled steps themselves are driven against the API test server in phantomcluster.test.ts.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podTemplateHashAnnotation } from '../resources/index.ts';
import { podHashOf, podsToRoll } from './rollout.ts';

function pod(name: string, hash: string | undefined, ready: boolean): V1Pod {
  return {
    metadata: { name, ...(hash === undefined ? {} : { annotations: { [podTemplateHashAnnotation]: hash } }) },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

describe('podsToRoll', () => {
  it('lists outdated pods highest ordinal first and skips up-to-date ones', () => {
    const pods = [pod('db-0', 'old', true), pod('db-1', 'new', true), pod('db-2', 'old', true), pod('db-3', 'old', true)];
    expect(podsToRoll(pods, 'db', 4, 'new')).toEqual([3, 2, 0]);
  });

  it('replaces pods that are not Ready first: they serve nothing', () => {
    const pods = [pod('db-0', 'old', false), pod('db-1', 'old', true), pod('db-2', 'old', true)];
    expect(podsToRoll(pods, 'db', 3, 'new')).toEqual([0, 2, 1]);
  });

  it('ignores pods above the replica count (about to be scaled in) and pods of other names', () => {
    const pods = [pod('db-0', 'old', true), pod('db-1', 'old', true), pod('db-2', 'old', true), pod('other-0', 'old', true), pod('db-x', 'old', true)];
    expect(podsToRoll(pods, 'db', 2, 'new')).toEqual([1, 0]);
  });

  it('counts a pod without a hash annotation as outdated', () => {
    expect(podsToRoll([pod('db-0', undefined, true)], 'db', 1, 'new')).toEqual([0]);
    expect(podHashOf(pod('db-0', undefined, true))).toBeUndefined();
  });

  it('returns nothing when every pod runs the target template', () => {
    expect(podsToRoll([pod('db-0', 'new', true), pod('db-1', 'new', false)], 'db', 2, 'new')).toEqual([]);
  });
});
