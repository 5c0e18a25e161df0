/// <reference lib="dom" />
// The dashboard's entry: a header with the four pages, routed by the URL's hash, and the live tick that makes
// every page refetch when the store changes.
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { parseRoute, useLiveTick } from './api';
import { GraphPage } from './graph-page';
import { PrivacyPage } from './privacy-page';
import { ResultsPage } from './results-page';
import { RunsPage } from './runs-page';

const html = htm.bind(h);

const PAGES = { graph: GraphPage, privacy: PrivacyPage, results: ResultsPage, runs: RunsPage } as const;

function App() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onHash = () => setHash(location.hash);
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const tick = useLiveTick();
  const route = parseRoute(hash);
  const Page = PAGES[route.page as keyof typeof PAGES] ?? GraphPage;
  return html`<header>
      <b>dpkd</b>
      ${Object.keys(PAGES).map((p) => html`<a href=${`#/${p}`} class=${route.page === p ? 'active' : ''}>${p[0]!.toUpperCase() + p.slice(1)}</a>`)}
      <span class="store">read-only view of the store</span>
    </header>
    <main><${Page} route=${route} tick=${tick} /></main>`;
}

render(html`<${App} />`, document.getElementById('app')!);
