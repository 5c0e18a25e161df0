// Progress sinks: a TTY view (one line per running node, redrawn), plain lines otherwise, and a JSONL event file.
import { appendFileSync } from 'node:fs';
import { Effect } from 'effect';
import type { EngineEvent, ProgressApi } from './services';
import { formatEps } from './errors';

interface Running {
  node: string;
  started: number;
  step?: number;
  total?: number;
  loss?: number;
  epsilon?: number;
  message?: string;
}

export interface ConsoleProgressOptions {
  /** Where human output goes (stderr by default, so `--json` stdout stays one object). */
  stream?: NodeJS.WriteStream;
  /** Redraw live lines (default: the stream is a TTY). */
  tty?: boolean;
  eventsFile?: string;
  quiet?: boolean;
}

const eta = (r: Running, now: number): string => {
  if (!r.step || !r.total || r.step <= 0) return '';
  const left = ((now - r.started) / r.step) * (r.total - r.step);
  return ` ETA ${Math.max(0, left / 1000).toFixed(0)}s`;
};

export function consoleProgress(options: ConsoleProgressOptions = {}): ProgressApi {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const running = new Map<string, Running>();
  let drawn = 0;
  const write = (s: string) => void (options.quiet ? undefined : stream.write(s));
  const redraw = (now: number) => {
    if (!tty) return;
    if (drawn > 0) write(`\x1b[${drawn}A\x1b[J`);
    const lines = [...running.values()].map((r) => {
      const step = r.total ? ` ${r.step ?? 0}/${r.total}` : '';
      const loss = r.loss !== undefined ? ` loss ${r.loss.toFixed(4)}` : '';
      const eps = r.epsilon !== undefined ? ` ε ${formatEps(r.epsilon)}` : '';
      // A node's own message (e.g. training's tokens/s and ETA, right after a resume too) replaces the step-rate ETA.
      return `  ▸ ${r.node}${step}${loss}${eps}${r.message ? ` ${r.message}` : eta(r, now)}`;
    });
    for (const l of lines) write(`${l}\n`);
    drawn = lines.length;
  };
  const above = (line: string, now: number) => {
    if (tty && drawn > 0) {
      write(`\x1b[${drawn}A\x1b[J`);
      drawn = 0;
    }
    write(`${line}\n`);
    redraw(now);
  };
  return {
    emit: (event) =>
      Effect.sync(() => {
        if (options.eventsFile) appendFileSync(options.eventsFile, `${JSON.stringify(event)}\n`);
        switch (event.type) {
          case 'run-start':
            above(`run ${event.run}: ${event.graph}, ${event.nodes} node(s), ${event.toRun} to run`, event.at);
            break;
          case 'node-start':
            running.set(event.node, { node: event.node, started: event.at });
            if (!tty) above(`start  ${event.node}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`, event.at);
            else redraw(event.at);
            break;
          case 'node-progress': {
            const r = running.get(event.node);
            if (r)
              Object.assign(r, { step: event.step, total: event.total, loss: event.loss, epsilon: event.epsilon, message: event.message });
            redraw(event.at);
            break;
          }
          case 'node-end':
            running.delete(event.node);
            if (event.status !== 'cached' || !tty)
              above(
                `${event.status.padEnd(8)}${event.node} (${event.seconds.toFixed(2)} s)${event.error ? `: ${event.error}` : ''}${event.log && event.status === 'failed' ? ` [log: ${event.log}]` : ''}`,
                event.at,
              );
            break;
          case 'notice':
            above(`note   ${event.message}`, event.at);
            break;
          case 'run-end':
            above(`run ${event.run} ${event.status} in ${event.seconds.toFixed(2)} s`, event.at);
            break;
        }
      }),
  };
}

/** Collects events in memory (tests). */
export function recordingProgress(): ProgressApi & { events: EngineEvent[] } {
  const events: EngineEvent[] = [];
  return { events, emit: (e) => Effect.sync(() => void events.push(e)) };
}
