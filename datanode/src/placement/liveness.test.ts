// Node liveness: the pure tracker (live / suspect / dead, node and observer pauses, epochs) and the
// versioned record format the meta range stores.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checkLivenessConfig,
  decodeLivenessRecord,
  defaultLivenessConfig,
  emptyLivenessState,
  encodeLivenessRecord,
  livenessOf,
  observeLiveness,
  toNodeState,
} from './liveness.ts';
import type { LivenessConfig, LivenessRecord, LivenessState } from './liveness.ts';
import { PlacementError } from './errors.ts';

const config: LivenessConfig = { heartbeatIntervalTicks: 10, suspectAfterTicks: 15, deadAfterTicks: 60, observerGapTicks: 20 };
const propertyRuns = Number(process.env['PROPERTY_RUNS'] ?? 100);

function record(nodeId: number, heartbeatTicks: number, epoch = 1): LivenessRecord {
  return { nodeId, epoch, heartbeatTicks, locality: { region: 'r1', zone: `z${nodeId}` }, capacityBytes: 1000, usedBytes: 10 };
}

/** Drives the tracker tick by tick: `beats(nodeId, tick)` says whether the node heartbeats at that tick. */
function run(ticks: number, nodeIds: number[], beats: (nodeId: number, tick: number) => boolean, start: LivenessState = emptyLivenessState) {
  let state = start;
  const counters = new Map(nodeIds.map((id) => [id, 0]));
  const history: Map<number, string>[] = [];
  for (let tick = 1; tick <= ticks; tick += 1) {
    for (const id of nodeIds) if (beats(id, tick)) counters.set(id, tick);
    state = observeLiveness(state, tick, nodeIds.map((id) => record(id, counters.get(id) ?? 0)), config);
    history.push(new Map(livenessOf(state, tick, config).map((node) => [node.nodeId, node.liveness])));
  }
  return { state, history };
}

describe('liveness tracker', () => {
  it('keeps heartbeating nodes live from their first observed beat on', () => {
    const { history } = run(200, [1, 2, 3], (_, tick) => tick % 10 === 0);
    // Ticks 1-9: the records were only read once, not seen advancing: suspect, not live.
    for (const snapshot of history.slice(0, 9)) expect([...snapshot.values()]).toEqual(['suspect', 'suspect', 'suspect']);
    for (const snapshot of history.slice(9)) expect([...snapshot.values()].every((liveness) => liveness === 'live')).toBe(true);
  });

  it('holds a record it never saw advance as suspect, then dead (a new leader reading a dead node’s record)', () => {
    let state = emptyLivenessState;
    const seen: string[] = [];
    for (let tick = 1; tick <= 80; tick += 1) {
      state = observeLiveness(state, tick, [record(1, 12345)], config);
      seen.push(livenessOf(state, tick, config)[0]?.liveness ?? 'missing');
    }
    expect(seen.indexOf('dead') + 1).toBe(1 + config.deadAfterTicks);
    expect(seen.slice(0, config.deadAfterTicks)).toEqual(Array.from({ length: config.deadAfterTicks }, () => 'suspect'));
  });

  it('marks one missed beat suspect, not dead, and a returning node live again', () => {
    // Node 2 skips the beat at tick 50 (a short pause): suspect for a while, never dead.
    const { history } = run(100, [1, 2], (id, tick) => tick % 10 === 0 && !(id === 2 && tick === 50));
    const node2 = history.map((snapshot) => snapshot.get(2));
    expect(node2).toContain('suspect');
    expect(node2).not.toContain('dead');
    expect(node2.at(-1)).toBe('live');
    expect(history.slice(9).every((snapshot) => snapshot.get(1) === 'live')).toBe(true);
  });

  it('declares a silent node dead after deadAfterTicks, with deadSinceTicks at its last beat', () => {
    const { state, history } = run(200, [1, 2], (id, tick) => tick % 10 === 0 && !(id === 2 && tick > 40));
    const firstDead = history.findIndex((snapshot) => snapshot.get(2) === 'dead') + 1;
    expect(firstDead).toBe(40 + config.deadAfterTicks);
    const node2 = livenessOf(state, 200, config).find((node) => node.nodeId === 2);
    expect(node2).toMatchObject({ liveness: 'dead', deadSinceTicks: 40 });
  });

  it('does not hold the observer’s own pause against the nodes', () => {
    const { state } = run(30, [1, 2], (_, tick) => tick % 10 === 0);
    // The observer stalls for 500 ticks; meanwhile no heartbeat reaches it (the meta range was down).
    const resumed = observeLiveness(state, 530, [record(1, 30), record(2, 30)], config);
    expect(livenessOf(resumed, 530, config).map((node) => node.liveness)).toEqual(['live', 'live']);
    // Nodes that stay silent after the pause are judged on the time since the observer resumed.
    let later = resumed;
    for (let tick = 531; tick <= 600; tick += 1) later = observeLiveness(later, tick, [record(1, tick), record(2, 30)], config);
    expect(livenessOf(later, 600, config).map((node) => node.liveness)).toEqual(['live', 'dead']);
  });

  it('treats a higher epoch as a restart and ignores stale (lower-epoch) records', () => {
    let state = observeLiveness(emptyLivenessState, 1, [record(1, 500, 2)], config);
    // A record from before the restart (epoch 1, more ticks) must not count as a heartbeat.
    for (let tick = 2; tick <= 100; tick += 1) state = observeLiveness(state, tick, [record(1, 900, 1)], config);
    expect(livenessOf(state, 100, config)[0]).toMatchObject({ liveness: 'dead', epoch: 2 });
    // The restarted node's counter may start lower than before: the epoch decides.
    state = observeLiveness(state, 101, [record(1, 3, 3)], config);
    expect(livenessOf(state, 101, config)[0]).toMatchObject({ liveness: 'live', epoch: 3 });
  });

  it('forgets a node whose record was deleted', () => {
    const state = observeLiveness(observeLiveness(emptyLivenessState, 1, [record(1, 1), record(2, 1)], config), 2, [record(1, 2)], config);
    expect(livenessOf(state, 2, config).map((node) => node.nodeId)).toEqual([1]);
  });

  it('builds the planner’s node state from liveness, record and admin flags', () => {
    const state = observeLiveness(observeLiveness(emptyLivenessState, 4, [record(7, 4)], config), 5, [record(7, 5)], config);
    const [node] = livenessOf(state, 5, config);
    expect(node).toBeDefined();
    if (node === undefined) return;
    expect(toNodeState(node, { draining: true, decommissioning: false })).toEqual({
      id: 7, liveness: 'live', deadSinceTicks: 5, draining: true, decommissioning: false,
      locality: { region: 'r1', zone: 'z7' }, capacityBytes: 1000, usedBytes: 10,
    });
  });

  it('refuses thresholds where one missed beat would be dead', () => {
    expect(() => checkLivenessConfig(defaultLivenessConfig)).not.toThrow();
    const bad = { ...config, deadAfterTicks: 20 };
    expect(() => checkLivenessConfig(bad)).toThrow(PlacementError);
    try {
      checkLivenessConfig({ ...bad, heartbeatIntervalTicks: 0 });
    } catch (error) {
      expect(error).toBeInstanceOf(PlacementError);
      expect((error as PlacementError).code).toBe('PH_INVALID_OPTIONS');
      expect((error as PlacementError).message).toContain('heartbeatIntervalTicks');
    }
  });

  it('property: a node beating at least every interval is never suspect once seen beating; silence past deadAfterTicks is dead', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 5, maxLength: 40 }), fc.integer({ min: 0, max: 200 }), (gaps, silence) => {
        let state = emptyLivenessState;
        let tick = 0;
        let lastBeat = 0;
        let observedBeat: number | undefined;
        let confirmed = false;
        for (const gap of gaps) {
          for (let step = 1; step <= gap; step += 1) {
            tick += 1;
            if (step === gap) lastBeat = tick;
            state = observeLiveness(state, tick, [record(1, lastBeat)], config);
            // Live once the tracker has seen the record advance (suspect before that).
            confirmed ||= observedBeat !== undefined && observedBeat !== lastBeat;
            observedBeat = lastBeat;
            expect(livenessOf(state, tick, config)[0]?.liveness).toBe(confirmed ? 'live' : 'suspect');
          }
        }
        expect(confirmed).toBe(true);
        for (let step = 1; step <= silence; step += 1) state = observeLiveness(state, lastBeat + step, [record(1, lastBeat)], config);
        const expected = silence >= config.deadAfterTicks ? 'dead' : silence > config.suspectAfterTicks ? 'suspect' : 'live';
        expect(livenessOf(state, lastBeat + silence, config)[0]?.liveness).toBe(expected);
      }),
      { numRuns: propertyRuns },
    );
  });
});

describe('liveness record format', () => {
  it('round-trips through encode and decode', () => {
    const original = record(3, 12345, 7);
    expect(decodeLivenessRecord(encodeLivenessRecord(original))).toEqual(original);
  });

  it('refuses an unknown version, malformed bytes and bad fields with PH_CORRUPTION', () => {
    const encoder = new TextEncoder();
    const valid = JSON.parse(new TextDecoder().decode(encodeLivenessRecord(record(3, 1)))) as Record<string, unknown>;
    const cases: [string, Uint8Array][] = [
      ['unsupported version 2', encoder.encode(JSON.stringify({ ...valid, version: 2 }))],
      ['not UTF-8 JSON', encoder.encode('{"version":1,')],
      ['not UTF-8 JSON', new Uint8Array([0x7b, 0xff, 0x7d])],
      ['not an object', encoder.encode('[1]')],
      ['nodeId must be an integer', encoder.encode(JSON.stringify({ ...valid, nodeId: 0 }))],
      ['epoch must be an integer', encoder.encode(JSON.stringify({ ...valid, epoch: 1.5 }))],
      ['zone must be a string', encoder.encode(JSON.stringify({ ...valid, zone: '' }))],
      ['usedBytes must be an integer', encoder.encode(JSON.stringify({ ...valid, usedBytes: -1 }))],
      ['more than 4096', encoder.encode(JSON.stringify({ ...valid, padding: 'x'.repeat(5000) }))],
    ];
    for (const [message, bytes] of cases) {
      let caught: unknown;
      try {
        decodeLivenessRecord(bytes);
      } catch (error) {
        caught = error;
      }
      expect(caught, message).toBeInstanceOf(PlacementError);
      expect((caught as PlacementError).code).toBe('PH_CORRUPTION');
      expect((caught as PlacementError).message).toContain(message);
    }
  });

  it('ignores unknown fields within version 1 (a later release may add optional fields)', () => {
    const valid = JSON.parse(new TextDecoder().decode(encodeLivenessRecord(record(3, 1)))) as Record<string, unknown>;
    const bytes = new TextEncoder().encode(JSON.stringify({ ...valid, rack: 'r7' }));
    expect(decodeLivenessRecord(bytes)).toEqual(record(3, 1));
  });

  it('property: every valid record round-trips', () => {
    const label = fc.string({ minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(
        fc.record({
          nodeId: fc.integer({ min: 1, max: 2 ** 31 }),
          epoch: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          heartbeatTicks: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          locality: fc.record({ region: label, zone: label }),
          capacityBytes: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          usedBytes: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        }),
        (original) => {
          expect(decodeLivenessRecord(encodeLivenessRecord(original))).toEqual(original);
        },
      ),
      { numRuns: propertyRuns },
    );
  });
});
