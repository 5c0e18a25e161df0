// `dpkd privacy epsilon|sigma`: the accountants of @dpkd/privacy on the command line. Registered by
// commands/privacy.ts, loaded when one of them runs.
import { readFileSync } from 'node:fs';
import { type AccountantName, calibrateSigma, dpSgdEvent, epsilonOf, parseDpEvent } from '@dpkd/privacy';
import { CliError } from '../cli-error';

interface NumberRule {
  flag: string;
  test: (x: number) => boolean;
  expect: string;
}

function number(value: string | undefined, rule: NumberRule): number {
  if (value === undefined) throw new CliError(`${rule.flag} is required (${rule.expect})`);
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || !rule.test(x))
    throw new CliError(`${rule.flag} must be ${rule.expect}, got "${value}"`);
  return x;
}

const rules = {
  q: { flag: '--q', test: (x: number) => x > 0 && x <= 1, expect: 'a sampling rate in (0, 1]' },
  sigma: { flag: '--sigma', test: (x: number) => x > 0, expect: 'a noise multiplier > 0' },
  steps: { flag: '--steps', test: (x: number) => Number.isInteger(x) && x > 0, expect: 'a positive integer' },
  delta: { flag: '--delta', test: (x: number) => x > 0 && x < 1, expect: 'a number in (0, 1)' },
  epsilon: { flag: '--epsilon', test: (x: number) => x > 0, expect: 'a number > 0' },
} satisfies Record<string, NumberRule>;

function accountantOf(value: string | undefined): AccountantName {
  if (value === undefined) return 'pld';
  if (value === 'rdp' || value === 'pld') return value;
  throw new CliError(`--accountant must be rdp or pld, got "${value}"`);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(6) : String(x);
}

function readEvent(file: string) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read --event file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--event file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return parseDpEvent(json, file);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

/** Library range errors (e.g. a σ out of reach) are user-fixable input problems. */
function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (error) {
    if (error instanceof RangeError || (error instanceof Error && /not supported/.test(error.message))) throw new CliError(error.message);
    throw error;
  }
}

export interface EpsilonOptions {
  q?: string;
  sigma?: string;
  steps?: string;
  event?: string;
  delta?: string;
  accountant?: string;
  json?: boolean;
}

export function epsilonCommand(o: EpsilonOptions): void {
  const accountant = accountantOf(o.accountant);
  const delta = number(o.delta, rules.delta);
  let event;
  let setting: Record<string, number | string>;
  if (o.event !== undefined) {
    if (o.q !== undefined || o.sigma !== undefined || o.steps !== undefined)
      throw new CliError('--event cannot be combined with --q/--sigma/--steps');
    event = readEvent(o.event);
    setting = { event: o.event };
  } else {
    const q = number(o.q, rules.q);
    const sigma = number(o.sigma, rules.sigma);
    const steps = number(o.steps, rules.steps);
    event = dpSgdEvent({ q, sigma, steps });
    setting = { q, sigma, steps };
  }
  const r = guard(() => epsilonOf(event, delta, { accountant }));
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ ...r, epsilon: Number.isFinite(r.epsilon) ? r.epsilon : null, infinite: !Number.isFinite(r.epsilon), ...setting })}\n`,
    );
    return;
  }
  const detail =
    r.optimalOrder !== undefined
      ? `optimal order ${r.optimalOrder}`
      : r.interval !== undefined
        ? `grid Δ = ${fmt(r.interval)}, upper bound`
        : '';
  const why = r.nonPrivate ? ` (non-private: ${r.nonPrivate})` : '';
  process.stdout.write(`ε = ${fmt(r.epsilon)} at δ = ${delta} (${r.accountant}${detail ? `, ${detail}` : ''})${why}\n`);
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
}

export interface SigmaOptions {
  q?: string;
  steps?: string;
  delta?: string;
  epsilon?: string;
  accountant?: string;
  json?: boolean;
}

export function sigmaCommand(o: SigmaOptions): void {
  const accountant = accountantOf(o.accountant);
  const q = number(o.q, rules.q);
  const steps = number(o.steps, rules.steps);
  const delta = number(o.delta, rules.delta);
  const epsilon = number(o.epsilon, rules.epsilon);
  const r = guard(() => calibrateSigma({ q, steps, delta, epsilon, accountant }));
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ sigma: r.sigma, epsilon: r.epsilon, accountant: r.accountant, targetEpsilon: epsilon, delta, q, steps })}\n`,
    );
    return;
  }
  process.stdout.write(`σ = ${fmt(r.sigma)} gives ε = ${fmt(r.epsilon)} ≤ ${epsilon} at δ = ${delta} (${r.accountant})\n`);
}
