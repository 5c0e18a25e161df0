/// <reference lib="dom" />
// Talking to the dashboard's JSON API, and the live stream (Server-Sent Events: one `change` event when a run
// record or the ledger changes, after which a page refetches what it shows).
import { useEffect, useState } from 'preact/hooks';

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path);
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`);
  return body;
}

/** A counter that moves whenever the store changes (while the page is open). */
export function useLiveTick(): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const source = new EventSource('/api/live');
    source.addEventListener('change', () => setTick((t) => t + 1));
    return () => source.close();
  }, []);
  return tick;
}

export interface Loaded<T> {
  data?: T;
  error?: string;
}

/** GET `path` now and again whenever `tick` moves; keeps the last data while refetching. */
export function useJson<T>(path: string | undefined, tick = 0): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({});
  useEffect(() => {
    if (!path) return;
    let current = true;
    getJson<T>(path).then(
      (data) => current && setState({ data }),
      (error: Error) => current && setState({ error: error.message }),
    );
    return () => {
      current = false;
    };
  }, [path, tick]);
  return state;
}

/** The route in the URL's hash: `#/graph?run=ID&node=ID`. */
export interface Route {
  page: string;
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path, search] = hash.replace(/^#\/?/, '').split('?');
  return { page: path || 'graph', query: new URLSearchParams(search ?? '') };
}

export const href = (page: string, query: Record<string, string | undefined> = {}): string => {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
  return `#/${page}${q.toString() ? `?${q}` : ''}`;
};
