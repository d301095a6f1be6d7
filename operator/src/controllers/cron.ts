/**
 * Cron schedules (UTC) and the scheduling decision of a PhantomScheduledBackup, as pure
 * functions: no clock is read here, the caller passes `nowMs`.
 *
 * Five fields — minute hour day-of-month month day-of-week — each `*`, a number, a range `a-b`,
 * a step `*\/n` or `a-b/n`, or a comma list of those; day-of-week 0-7 (0 and 7 are Sunday).
 * Like Vixie cron, when both day fields are restricted a day matches if either does. Macros:
 * @yearly/@annually, @monthly, @weekly, @daily/@midnight, @hourly.
 */
import { InvalidArgumentError } from '../../../datanode/src/storage/errors.ts';

export interface CronSchedule {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
  readonly dayOfMonthRestricted: boolean;
  readonly dayOfWeekRestricted: boolean;
}

const macros: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const minuteMs = 60_000;
const dayMs = 24 * 60 * minuteMs;
/** How far ahead the next time is searched (a schedule such as "0 0 30 2 *" never fires). */
const searchHorizonDays = 5 * 366;

function parseField(text: string, min: number, max: number, what: string): { values: Set<number>; restricted: boolean } {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (match === null) throw new InvalidArgumentError(`cron ${what} field "${text}": cannot read "${part}"`);
    const step = match[4] === undefined ? 1 : Number(match[4]);
    let from = min;
    let to = max;
    if (match[1] !== '*') {
      from = Number(match[2]);
      to = match[3] === undefined ? (match[4] === undefined ? from : max) : Number(match[3]);
    }
    if (step < 1 || from < min || to > max || from > to) throw new InvalidArgumentError(`cron ${what} field "${text}": "${part}" is outside ${min}-${max} or empty`);
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return { values, restricted: text !== '*' && !text.startsWith('*/') };
}

/** Parses a cron expression; throws InvalidArgumentError naming the bad field. */
export function parseCron(expression: string): CronSchedule {
  const text = macros[expression.trim()] ?? expression.trim();
  const fields = text.split(/\s+/);
  if (fields.length !== 5) throw new InvalidArgumentError(`cron schedule "${expression}" needs five fields (minute hour day-of-month month day-of-week)`);
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string];
  const dow = parseField(dayOfWeek, 0, 7, 'day-of-week');
  if (dow.values.has(7)) dow.values.add(0);
  const dom = parseField(dayOfMonth, 1, 31, 'day-of-month');
  return {
    minutes: parseField(minute, 0, 59, 'minute').values,
    hours: parseField(hour, 0, 23, 'hour').values,
    daysOfMonth: dom.values,
    months: parseField(month, 1, 12, 'month').values,
    daysOfWeek: dow.values,
    dayOfMonthRestricted: dom.restricted,
    dayOfWeekRestricted: dow.restricted,
  };
}

function dayMatches(schedule: CronSchedule, date: Date): boolean {
  if (!schedule.months.has(date.getUTCMonth() + 1)) return false;
  const dom = schedule.daysOfMonth.has(date.getUTCDate());
  const dow = schedule.daysOfWeek.has(date.getUTCDay());
  if (schedule.dayOfMonthRestricted && schedule.dayOfWeekRestricted) return dom || dow;
  if (schedule.dayOfMonthRestricted) return dom;
  if (schedule.dayOfWeekRestricted) return dow;
  return true;
}

/** The first time the schedule fires strictly after `afterMs`, or undefined within five years. */
export function nextCronTime(schedule: CronSchedule, afterMs: number): number | undefined {
  let t = (Math.floor(afterMs / minuteMs) + 1) * minuteMs;
  const horizon = afterMs + searchHorizonDays * dayMs;
  while (t <= horizon) {
    const date = new Date(t);
    if (!dayMatches(schedule, date)) {
      t = Math.floor(t / dayMs + 1) * dayMs;
      continue;
    }
    if (!schedule.hours.has(date.getUTCHours())) {
      t = (Math.floor(t / (60 * minuteMs)) + 1) * 60 * minuteMs;
      continue;
    }
    if (!schedule.minutes.has(date.getUTCMinutes())) {
      t += minuteMs;
      continue;
    }
    return t;
  }
  return undefined;
}

export type ScheduleDecision =
  | { readonly kind: 'suspended' }
  | { readonly kind: 'never' }
  | { readonly kind: 'wait'; readonly nextMs: number }
  /** Start one backup for `scheduledMs` (the latest time that fell due); `missed` earlier due times are skipped. */
  | { readonly kind: 'run'; readonly scheduledMs: number; readonly missed: number; readonly nextMs: number | undefined };

export interface ScheduleInput {
  readonly schedule: CronSchedule;
  /** The time of the last backup started by the schedule, else when the schedule was created. */
  readonly lastScheduleMs: number;
  readonly nowMs: number;
  readonly suspend: boolean;
}

/** Due times counted when catching up before giving up counting (the run is still one). */
const missedCountMax = 10_000;

/**
 * What a schedule should do now. After downtime with several due times missed, it runs once,
 * for the latest one — never a burst — and reports how many it skipped.
 */
export function decideSchedule(input: ScheduleInput): ScheduleDecision {
  if (input.suspend) return { kind: 'suspended' };
  const first = nextCronTime(input.schedule, input.lastScheduleMs);
  if (first === undefined) return { kind: 'never' };
  if (first > input.nowMs) return { kind: 'wait', nextMs: first };
  let latest = first;
  let missed = 0;
  for (;;) {
    const next = nextCronTime(input.schedule, latest);
    if (next === undefined || next > input.nowMs) return { kind: 'run', scheduledMs: latest, missed, nextMs: next };
    latest = next;
    missed++;
    if (missed >= missedCountMax) {
      // Do not walk years of minutes: jump to the last due time before now.
      const last = latestDueAtOrBefore(input.schedule, input.nowMs, latest);
      return { kind: 'run', scheduledMs: last, missed, nextMs: nextCronTime(input.schedule, last) };
    }
  }
}

function latestDueAtOrBefore(schedule: CronSchedule, nowMs: number, floorMs: number): number {
  // Search back a day at a time for a window that holds a due time, then walk it forward.
  for (let start = nowMs - dayMs; start >= floorMs; start -= dayMs) {
    let t = nextCronTime(schedule, start);
    if (t === undefined || t > nowMs) continue;
    for (;;) {
      const next = nextCronTime(schedule, t);
      if (next === undefined || next > nowMs) return t;
      t = next;
    }
  }
  return floorMs;
}

/** A duration such as "36h", "7d", "4w" in milliseconds. */
export function parseRetentionDuration(text: string): number {
  const match = /^([1-9][0-9]{0,4})(h|d|w)$/.exec(text);
  if (match === null) throw new InvalidArgumentError(`retention duration "${text}" must look like 36h, 7d or 4w`);
  const unitMs = match[2] === 'h' ? 3_600_000 : match[2] === 'd' ? dayMs : 7 * dayMs;
  return Number(match[1]) * unitMs;
}
