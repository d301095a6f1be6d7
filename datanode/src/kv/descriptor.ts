/**
 * Range descriptors: a range's id, its span of user keys [startKey, endKey) (an empty endKey is
 * the end of the keyspace), its generation (bumped by every split, so a newer descriptor of the
 * same keys wins) and its replicas. Range 1 is the meta range: it holds no user keys, only the
 * cluster-wide records and a copy of every range's descriptor.
 */
import { assert } from '../assert.ts';

export const metaRangeId = 1;
/** The range that covers the whole user keyspace when a cluster is bootstrapped. */
export const firstUserRangeId = 2;

export interface ReplicaDescriptor {
  readonly nodeId: number;
  readonly voter: boolean;
}

export interface RangeDescriptor {
  readonly rangeId: number;
  readonly startKey: Buffer;
  /** Exclusive; empty: the end of the keyspace. */
  readonly endKey: Buffer;
  readonly generation: number;
  readonly replicas: readonly ReplicaDescriptor[];
}

/** Whether the range holds user key `key` (the meta range holds none). */
export function containsKey(desc: RangeDescriptor, key: Uint8Array): boolean {
  if (desc.rangeId === metaRangeId) return false;
  if (Buffer.compare(key, desc.startKey) < 0) return false;
  return desc.endKey.byteLength === 0 || Buffer.compare(key, desc.endKey) < 0;
}

/** Whether [start, end) (end empty: to the end) lies within the range's span. */
export function containsSpan(desc: RangeDescriptor, start: Uint8Array, end: Uint8Array): boolean {
  if (!containsKey(desc, start)) return false;
  if (desc.endKey.byteLength === 0) return true;
  return end.byteLength !== 0 && Buffer.compare(end, desc.endKey) <= 0;
}

/** Whether two ranges' spans share a key (the meta range shares none). */
export function spansOverlap(a: RangeDescriptor, b: RangeDescriptor): boolean {
  if (a.rangeId === metaRangeId || b.rangeId === metaRangeId) return false;
  const aBeforeB = a.endKey.byteLength !== 0 && Buffer.compare(a.endKey, b.startKey) <= 0;
  const bBeforeA = b.endKey.byteLength !== 0 && Buffer.compare(b.endKey, a.startKey) <= 0;
  return !aBeforeB && !bBeforeA;
}

export function describeRange(desc: RangeDescriptor): string {
  const show = (key: Buffer): string => (key.byteLength === 0 ? '∞' : JSON.stringify(key.toString('latin1')));
  return `r${desc.rangeId}[${desc.startKey.byteLength === 0 ? '-∞' : show(desc.startKey)}, ${show(desc.endKey)}) gen ${desc.generation}`;
}

interface DescriptorJson {
  rangeId: number;
  start: string;
  end: string;
  generation: number;
  replicas: { nodeId: number; voter: boolean }[];
}

export function descriptorToJson(desc: RangeDescriptor): DescriptorJson {
  return {
    rangeId: desc.rangeId,
    start: desc.startKey.toString('hex'),
    end: desc.endKey.toString('hex'),
    generation: desc.generation,
    replicas: desc.replicas.map((r) => ({ nodeId: r.nodeId, voter: r.voter })),
  };
}

export function descriptorFromJson(value: unknown): RangeDescriptor {
  assert(typeof value === 'object' && value !== null, 'descriptor is an object');
  const { rangeId, start, end, generation, replicas } = value as Record<string, unknown>;
  assert(typeof rangeId === 'number' && Number.isSafeInteger(rangeId) && rangeId > 0, 'descriptor range id');
  assert(typeof start === 'string' && typeof end === 'string', 'descriptor span');
  assert(typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= 0, 'descriptor generation');
  assert(Array.isArray(replicas), 'descriptor replicas');
  return {
    rangeId,
    startKey: Buffer.from(start, 'hex'),
    endKey: Buffer.from(end, 'hex'),
    generation,
    replicas: replicas.map((r: unknown) => {
      assert(typeof r === 'object' && r !== null, 'replica is an object');
      const { nodeId, voter } = r as Record<string, unknown>;
      assert(typeof nodeId === 'number' && typeof voter === 'boolean', 'replica fields');
      return { nodeId, voter };
    }),
  };
}

export function encodeDescriptor(desc: RangeDescriptor): Buffer {
  return Buffer.from(JSON.stringify(descriptorToJson(desc)), 'utf8');
}

export function decodeDescriptor(bytes: Uint8Array): RangeDescriptor {
  return descriptorFromJson(JSON.parse(Buffer.from(bytes).toString('utf8')));
}

/**
 * The descriptor covering `key` among `candidates`: of those holding the key, the newest
 * generation (a stale copy of a range that has since split loses to its newer halves).
 */
export function lookupDescriptor(candidates: Iterable<RangeDescriptor>, key: Uint8Array): RangeDescriptor | undefined {
  let best: RangeDescriptor | undefined;
  for (const desc of candidates) {
    if (!containsKey(desc, key)) continue;
    if (best === undefined || desc.generation > best.generation || (desc.generation === best.generation && desc.rangeId === best.rangeId)) best = desc;
  }
  return best;
}
