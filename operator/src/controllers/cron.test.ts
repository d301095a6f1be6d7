import { describe, expect, it } from 'vitest';
import { decideSchedule, nextCronTime, parseCron, parseRetentionDuration } from './cron.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | undefined): string => (ms === undefined ? 'never' : new Date(ms).toISOString());

describe('cron schedules', () => {
  it('find the next firing time for common schedules', () => {
    const cases: [string, string, string][] = [
      ['0 3 * * *', '2026-11-26T02:59:59Z', '2026-11-26T03:00:00.000Z'],
      ['0 3 * * *', '2026-11-26T03:00:00Z', '2026-11-27T03:00:00.000Z'],
      ['*/15 * * * *', '2026-11-26T10:07:00Z', '2026-11-26T10:15:00.000Z'],
      ['30 1-3/2 * * *', '2026-11-26T01:31:00Z', '2026-11-26T03:30:00.000Z'],
      ['0 0 1 * *', '2026-11-26T00:00:00Z', '2026-12-01T00:00:00.000Z'],
      ['0 12 * * 1-5', '2026-11-27T13:00:00Z', '2026-11-30T12:00:00.000Z'], // Friday afternoon → Monday
      ['0 0 * * 7', '2026-11-26T00:00:00Z', '2026-11-29T00:00:00.000Z'], // 7 is Sunday
      ['0 0 13 * 5', '2026-11-01T00:00:00Z', '2026-11-06T00:00:00.000Z'], // day-of-month OR day-of-week
      ['@hourly', '2026-11-26T10:00:00Z', '2026-11-26T11:00:00.000Z'],
      ['@weekly', '2026-11-26T10:00:00Z', '2026-11-29T00:00:00.000Z'],
      ['0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ];
    for (const [expression, after, expected] of cases) expect(iso(nextCronTime(parseCron(expression), at(after))), `${expression} after ${after}`).toBe(expected);
    expect(nextCronTime(parseCron('0 0 30 2 *'), at('2026-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('refuse malformed expressions, naming the field', () => {
    expect(() => parseCron('0 3 * *')).toThrow(/five fields/);
    expect(() => parseCron('60 * * * *')).toThrow(/minute field "60"/);
    expect(() => parseCron('* 5-2 * * *')).toThrow(/hour field/);
    expect(() => parseCron('* * * * mon')).toThrow(/day-of-week field/);
    expect(() => parseCron('*/0 * * * *')).toThrow(/minute field/);
  });

  it('parse retention durations', () => {
    expect(parseRetentionDuration('36h')).toBe(36 * 3_600_000);
    expect(parseRetentionDuration('7d')).toBe(7 * 86_400_000);
    expect(parseRetentionDuration('2w')).toBe(14 * 86_400_000);
    expect(() => parseRetentionDuration('7 days')).toThrow();
  });
});

describe('decideSchedule', () => {
  const daily = parseCron('0 3 * * *');

  it('waits until the next time, then runs once for it', () => {
    const created = at('2026-11-26T01:00:00Z');
    expect(decideSchedule({ schedule: daily, lastScheduleMs: created, nowMs: at('2026-11-26T02:00:00Z'), suspend: false })).toEqual({ kind: 'wait', nextMs: at('2026-11-26T03:00:00Z') });
    expect(decideSchedule({ schedule: daily, lastScheduleMs: created, nowMs: at('2026-11-26T03:00:05Z'), suspend: false })).toEqual({
      kind: 'run',
      scheduledMs: at('2026-11-26T03:00:00Z'),
      missed: 0,
      nextMs: at('2026-11-27T03:00:00Z'),
    });
    // Once started (lastScheduleMs recorded), the same time is not run again.
    expect(decideSchedule({ schedule: daily, lastScheduleMs: at('2026-11-26T03:00:00Z'), nowMs: at('2026-11-26T03:00:09Z'), suspend: false }).kind).toBe('wait');
  });

  it('after operator downtime runs one catch-up backup for the latest missed time, not a burst', () => {
    const decision = decideSchedule({ schedule: daily, lastScheduleMs: at('2026-11-20T03:00:00Z'), nowMs: at('2026-11-26T12:00:00Z'), suspend: false });
    expect(decision).toEqual({ kind: 'run', scheduledMs: at('2026-11-26T03:00:00Z'), missed: 5, nextMs: at('2026-11-27T03:00:00Z') });
    const minutely = parseCron('* * * * *');
    const long = decideSchedule({ schedule: minutely, lastScheduleMs: at('2026-01-01T00:00:00Z'), nowMs: at('2026-11-26T12:00:30Z'), suspend: false });
    expect(long.kind === 'run' ? iso(long.scheduledMs) : long.kind).toBe('2026-11-26T12:00:00.000Z');
  });

  it('does nothing while suspended, and says when a schedule never fires', () => {
    expect(decideSchedule({ schedule: daily, lastScheduleMs: 0, nowMs: at('2026-11-26T12:00:00Z'), suspend: true })).toEqual({ kind: 'suspended' });
    expect(decideSchedule({ schedule: parseCron('0 0 30 2 *'), lastScheduleMs: at('2026-01-01T00:00:00Z'), nowMs: at('2026-01-02T00:00:00Z'), suspend: false })).toEqual({ kind: 'never' });
  });
});
