import { Cron, CronPattern } from 'croner';

/*
 * Cron schedules as CronJobs read them. Kubernetes parses spec.schedule with robfig/cron's
 * standard parser (five fields, month and day names, `?` as `*`, the @yearly/@annually/@monthly/
 * @weekly/@daily/@midnight/@hourly macros and `@every <duration>`), and computes times in
 * spec.timeZone. Here the syntax is checked as robfig/cron checks it (its error wording is what
 * the API returns), then croner computes the times.
 *
 * Daylight saving: a wall-clock time that does not exist (02:30 on a spring-forward night) is
 * skipped, as robfig/cron skips it; croner alone would run such a job at 03:00.
 */

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
/** minute, hour, day of month, month, day of week: bounds and names, as robfig/cron has them. */
const FIELDS: readonly { min: number; max: number; names?: readonly string[] }[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS },
  { min: 0, max: 6, names: DAYS },
];

/** A parsed schedule; compute times with nextScheduleTime. */
export type CronSchedule =
  | { readonly kind: 'cron'; /** five numeric fields, as handed to croner */ readonly pattern: string }
  | { readonly kind: 'every'; readonly ms: number };

/** One field, checked and with names replaced by numbers; throws robfig/cron's wording. */
function normalizeField(field: string, { min, max, names }: (typeof FIELDS)[number]): string {
  const num = (s: string): number => {
    const i = names?.indexOf(s.toLowerCase()) ?? -1;
    if (i >= 0) return i + min;
    if (!/^\d+$/.test(s)) throw new Error(`failed to parse int from ${s}: strconv.Atoi: parsing "${s}": invalid syntax`);
    return Number(s);
  };
  return field
    .split(',')
    .map((part) => {
      const [range, step, extra] = part.split('/');
      if (extra !== undefined) throw new Error(`too many slashes: ${part}`);
      if (step !== undefined) num(step);
      const bounds = range === '*' || range === '?' ? [min, max] : range!.split('-').map(num);
      if (bounds.length > 2) throw new Error(`too many hyphens: ${part}`);
      const lo = bounds[0]!;
      const hi = bounds.length === 2 ? bounds[1]! : step !== undefined ? max : lo;
      if (lo < min) throw new Error(`beginning of range (${lo}) below minimum (${min}): ${part}`);
      if (hi > max) throw new Error(`end of range (${hi}) above maximum (${max}): ${part}`);
      if (lo > hi) throw new Error(`beginning of range (${lo}) beyond end of range (${hi}): ${part}`);
      if (step !== undefined && Number(step) === 0) throw new Error(`step of range should be a positive number: ${part}`);
      const text = range === '*' || range === '?' ? '*' : bounds.length === 2 || step !== undefined ? `${lo}-${hi}` : `${lo}`;
      return step === undefined ? text : `${text}/${Number(step)}`;
    })
    .join(',');
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, for `@every` (milliseconds). */
function parseGoDuration(text: string): number {
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  if (text === '0') return 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) throw new Error(`failed to parse duration @every ${text}: time: invalid duration "${text}"`);
    ms += Number(m[1]) * GO_UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  if (!text) throw new Error(`failed to parse duration @every ${text}: time: invalid duration ""`);
  return ms;
}

/** Parses a schedule; throws an Error worded as robfig/cron words it. */
export function parseCron(expr: string): CronSchedule {
  const text = MACROS[expr.trim()] ?? expr.trim();
  if (text.startsWith('@every ')) {
    // robfig/cron: at least one second, whole seconds.
    const ms = parseGoDuration(text.slice('@every '.length).trim());
    return { kind: 'every', ms: Math.max(1000, ms - (ms % 1000)) };
  }
  if (text.startsWith('@')) throw new Error(`unrecognized descriptor: ${text}`);
  const fields = text.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) throw new Error(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`);
  return { kind: 'cron', pattern: fields.map((f, i) => normalizeField(f, FIELDS[i]!)).join(' ') };
}

const cache = new Map<string, { cron: Cron; pattern: CronPattern }>();

function cronFor(pattern: string, timeZone: string | undefined): { cron: Cron; pattern: CronPattern } {
  const key = `${timeZone ?? ''} ${pattern}`;
  let c = cache.get(key);
  if (!c) {
    // croner reads day of month and day of week with OR when both are restricted, as cron does.
    const options = { timezone: timeZone ?? 'UTC', mode: '5-part' as const };
    c = { cron: new Cron(pattern, { ...options, paused: true }), pattern: new CronPattern(pattern, options.timezone, options) };
    if (cache.size >= 1000) cache.delete(cache.keys().next().value!);
    cache.set(key, c);
  }
  return c;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Hour and minute of `t` on the wall clock of `timeZone`. */
function wallClock(t: Date, timeZone: string): { hour: number; minute: number } {
  let f = formatters.get(timeZone);
  if (!f) formatters.set(timeZone, (f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric' })));
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(t)) parts[p.type] = p.value;
  return { hour: Number(parts.hour) % 24, minute: Number(parts.minute) };
}

/** The first scheduled time strictly after `after`, or undefined when the schedule never fires. */
export function nextScheduleTime(s: CronSchedule, after: Date, timeZone?: string): Date | undefined {
  if (s.kind === 'every') return new Date(Math.floor(after.getTime() / 1000) * 1000 + s.ms);
  const { cron, pattern } = cronFor(s.pattern, timeZone);
  let from = after;
  // A handful of DST-shifted candidates at most (one per spring-forward night crossed).
  for (let i = 0; i < 16; i++) {
    const t = cron.nextRun(from);
    if (!t) return undefined;
    const w = wallClock(t, timeZone ?? 'UTC');
    if (pattern.hour[w.hour] && pattern.minute[w.minute]) return t;
    from = t;
  }
  return undefined;
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
