import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from './errors.ts';
import { parseEngineOptions } from './options.ts';

describe('engine options', () => {
  it('fills defaults', () => {
    const o = parseEngineOptions({});
    expect(o.memtableBytesMax).toBe(32 * 1024 * 1024);
    expect(o.bloomBitsPerKey).toBe(10);
    expect(o.syncWritesByDefault).toBe(true);
  });

  it('names every bad field in one error', () => {
    let error: unknown;
    try {
      parseEngineOptions({ memtableBytesMax: 'big', bloomBitsPerKey: -1, levelsMax: 1.5, nope: 1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    const message = (error as InvalidOptionsError).message;
    expect(message).toContain('memtableBytesMax');
    expect(message).toContain('bloomBitsPerKey');
    expect(message).toContain('levelsMax');
    expect(message).toContain('nope');
    expect((error as InvalidOptionsError).code).toBe('PH_INVALID_OPTIONS');
  });

  it('checks relations between the L0 triggers', () => {
    expect(() => parseEngineOptions({ l0SlowdownTriggerFiles: 2, l0CompactionTriggerFiles: 4 })).toThrow(/l0SlowdownTriggerFiles/);
    expect(() => parseEngineOptions({ l0StopTriggerFiles: 5, l0SlowdownTriggerFiles: 8 })).toThrow(/l0StopTriggerFiles/);
  });
});
