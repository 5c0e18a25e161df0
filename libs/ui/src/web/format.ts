// Numbers as the CLI prints them: ε with ∞ for a non-private step (null in the API's JSON), δ in scientific notation.
export const eps = (e: number | null | undefined, digits = 3): string => (e === null ? '∞' : e === undefined ? '—' : e.toFixed(digits));
export const sci = (d: number | null | undefined): string => (d === null || d === undefined ? '—' : d === 0 ? '0' : d.toExponential(1));
export const num = (v: unknown): string => {
  if (typeof v !== 'number') return v === null || v === undefined ? '—' : String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2); // δ and other small quantities
  return v.toFixed(Math.abs(v) >= 100 ? 2 : 4);
};
export const seconds = (s: number | undefined): string =>
  s === undefined ? '—' : s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
export const time = (iso: string | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');
