/** Helpers shared by the shared Raft log's tests. */
import { expect } from 'vitest';
import type { RaftStorage } from '../storage.ts';
import type { Entry } from '../types.ts';

/** A deterministic entry whose data encodes group, index and term (and varies in length). */
export function makeEntry(groupId: number, index: number, term: number, dataBytes?: number): Entry {
  const text = `g${groupId}/i${index}/t${term}/`;
  const length = dataBytes ?? text.length + ((groupId * 7 + index * 13) % 40);
  const data = Buffer.alloc(length, 'x');
  data.write(text.slice(0, length));
  return { term, index, kind: index % 11 === 0 ? 'conf-change' : 'normal', data: new Uint8Array(data) };
}

export function makeEntries(groupId: number, firstIndex: number, count: number, term: number, dataBytes?: number): Entry[] {
  return Array.from({ length: count }, (_, i) => makeEntry(groupId, firstIndex + i, term, dataBytes));
}

/** The outcome of one call: its value, or the error's class name and code. */
function outcome(call: () => unknown): unknown {
  try {
    return { value: normalize(call()) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { error: err instanceof Error ? err.name : String(err), code };
  }
}

/** Entries compared by content (Buffer vs Uint8Array data must not matter). */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

/**
 * Calls every RaftStorage method on both storages over indexes around the log's bounds and
 * a spread of maxBytes, expecting identical results and identical errors.
 */
export function expectSameStorage(expected: RaftStorage, actual: RaftStorage, label: string): void {
  const check = (what: string, call: (s: RaftStorage) => unknown): void => {
    expect(outcome(() => call(actual)), `${label}: ${what}`).toEqual(outcome(() => call(expected)));
  };
  check('initialState', (s) => s.initialState());
  check('firstIndex', (s) => s.firstIndex());
  check('lastIndex', (s) => s.lastIndex());
  check('snapshot', (s) => s.snapshot());
  const first = expected.firstIndex();
  const last = expected.lastIndex();
  const probes = new Set<number>([0, 1, first - 2, first - 1, first, first + 1, last - 1, last, last + 1, last + 2]);
  for (const index of probes) {
    if (index < 0) continue;
    check(`term(${index})`, (s) => s.term(index));
  }
  const bounds = [...probes].filter((i) => i >= 0).sort((a, b) => a - b);
  for (const lo of bounds) {
    for (const hi of bounds) {
      if (hi < lo) continue;
      for (const maxBytes of [0, 60, 200, Number.MAX_SAFE_INTEGER]) {
        check(`entries(${lo}, ${hi}, ${maxBytes})`, (s) => s.entries(lo, hi, maxBytes));
      }
    }
  }
}
