/**
 * metav1.Conditions on a status: `lastTransitionTime` changes only when a condition's status
 * does, so a status written again with the same facts is byte-for-byte the same.
 */
import type { Condition } from '../api/index.ts';

export interface ConditionUpdate {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

/** Returns the conditions with `update` applied (sorted by type, for stable output). */
export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, now: Date, observedGeneration: number | undefined): Condition[] {
  const list = [...(conditions ?? [])];
  const at = list.findIndex((condition) => condition.type === update.type);
  const previous = at < 0 ? undefined : list[at];
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message,
    lastTransitionTime: previous !== undefined && previous.status === update.status ? previous.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  if (observedGeneration !== undefined) next.observedGeneration = observedGeneration;
  if (at < 0) list.push(next);
  else list[at] = next;
  return list.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export function conditionOf(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}
