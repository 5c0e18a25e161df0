// Sweep axes and points. Grid axes are crossed; each zip group is one axis of paired lists; all
// axes are crossed with each other, the first declared varying slowest.
import type { Sweep } from '@dpkd/schema';

export interface SweepAxis {
  /** The graph params this axis sets (one for a grid axis, several for a zip group). */
  names: string[];
  /** Pointer of the axis in the file. */
  pointer: string;
  /** One entry per value of the axis: param name -> value. */
  values: Array<Record<string, unknown>>;
}

/** The axes in declaration order (grid first, then zip groups). Zip groups of unequal lengths are cut to the shortest; check() reports them. */
export function sweepAxes(sweep: Sweep | undefined): SweepAxis[] {
  const axes: SweepAxis[] = [];
  for (const [name, values] of Object.entries(sweep?.grid ?? {})) {
    axes.push({ names: [name], pointer: `/sweep/grid/${name}`, values: (values ?? []).map((v) => ({ [name]: v })) });
  }
  (sweep?.zip ?? []).forEach((group, i) => {
    const names = Object.keys(group);
    const length = Math.min(...names.map((n) => group[n]?.length ?? 0));
    const values = Array.from({ length }, (_, j) => Object.fromEntries(names.map((n) => [n, group[n]![j]])));
    axes.push({ names, pointer: `/sweep/zip/${i}`, values });
  });
  return axes;
}

export const sweptNames = (axes: SweepAxis[]): string[] => axes.flatMap((a) => a.names);

export const pointCount = (axes: SweepAxis[]): number => axes.reduce((n, a) => n * a.values.length, 1);

/** Every point of the sweep (one empty point without a sweep), as param name -> value. */
export function* sweepPoints(axes: SweepAxis[]): Generator<Record<string, unknown>> {
  const index = axes.map(() => 0);
  const total = pointCount(axes);
  for (let p = 0; p < total; p++) {
    const point: Record<string, unknown> = {};
    axes.forEach((axis, a) => Object.assign(point, axis.values[index[a]!]));
    yield point;
    for (let a = axes.length - 1; a >= 0; a--) {
      if (++index[a]! < axes[a]!.values.length) break;
      index[a] = 0;
    }
  }
}

/** How an axis value reads in an expanded id: `epsilon=2`, `student=student-xs`. */
export function formatAxisValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}
