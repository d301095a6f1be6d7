import { describe, expect, it } from 'vitest';
import { formatValue } from './render-html.ts';

describe('formatValue', () => {
  it('prints values in the panel units as Grafana would', () => {
    expect(formatValue(0, 'short')).toBe('0');
    expect(formatValue(3, 'short')).toBe('3');
    expect(formatValue(0.5, 'short')).toBe('0.50');
    expect(formatValue(2500, 'short')).toBe('2.5K');
    expect(formatValue(0, 'ops')).toBe('0 ops/s');
    expect(formatValue(180, 'ops')).toBe('180 ops/s');
    expect(formatValue(1536, 'bytes')).toBe('1.5 KiB');
    expect(formatValue(0.0025, 's')).toBe('2.5 ms');
    expect(formatValue(0.25, 'percentunit')).toBe('25.0%');
    expect(formatValue(0, 'dateTimeFromNow', { '0': 'never' })).toBe('never');
    expect(formatValue(Number.NaN, 'short')).toBe('NaN');
  });
});
