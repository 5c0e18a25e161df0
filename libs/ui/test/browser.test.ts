// The dashboard in a real browser: Debian's headless chromium loads each page of `dpkd ui` over a store made by
// a tiny real run, checks what it shows, follows the links between pages, watches a run appear live, saves a
// screenshot of each page, and finds no private document text in any page or response.
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listRunRecords, openStore, writeRunRecord, type RunRecord } from '@dpkd/engine';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { launchChromium } from './browser';
import { leaks, privateTexts } from './private-texts';
import { fixture, startUiProcess, type UiProcess } from './ui-process';

const scratch = inject('scratch');
const store = join(scratch, 'browser-store');
const shots = join(scratch, 'screenshots');
let ui: UiProcess;
let browser: BrowserContext;
let page: Page;
let record: RunRecord;
/** Every response body the browser received (the live stream never ends, so it is left out). */
const served: Array<{ url: string; body: string }> = [];
const pages: Array<{ name: string; html: string }> = [];

beforeAll(async () => {
  cpSync(inject('store'), store, { recursive: true });
  mkdirSync(shots, { recursive: true });
  record = (await listRunRecords(await openStore(store)))[0]!;
  ui = await startUiProcess([fixture, '--store', store]);
  browser = await launchChromium();
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('response', (response) => {
    if (response.url().includes('/api/live')) return;
    void response.text().then(
      (body) => served.push({ url: response.url(), body }),
      () => undefined,
    );
  });
});

afterAll(async () => {
  await browser?.close();
  expect(await ui?.stop()).toBe(0);
});

async function show(hash: string): Promise<void> {
  await page.goto(`${ui.url}${hash}`);
  await page.waitForLoadState('networkidle').catch(() => undefined); // the live stream keeps one request open
}
async function keep(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  pages.push({ name, html: await page.content() });
}

describe('dpkd ui in chromium', () => {
  test('Graph: the run DAG coloured by status, sweep axes, and a node panel with key, params, metrics, lineage ε and log', async () => {
    await show('#/graph');
    await page.locator('[data-testid=dag] g.node').nth(13).waitFor();
    expect(await page.locator('[data-testid=dag] g.node').count()).toBe(14);
    expect(await page.locator('[data-testid=dag] g.node[data-status=ran]').count()).toBe(14);
    const dag = (await (await fetch(`${ui.url}api/runs/${record.id}`)).json()) as { nodes: Array<{ deps: string[] }> };
    const edges = dag.nodes.reduce((sum, n) => sum + n.deps.length, 0);
    expect(edges).toBe(24); // tiny-ui.json's inputs, expanded over the sweep
    expect(await page.locator('[data-testid=dag] polyline').count()).toBe(edges);
    expect(await page.locator('[data-testid=sweep]').textContent()).toContain('epsilon = 1, 2');
    await page.locator('g.node[data-node="teacher"]').click();
    const panel = page.locator('[data-testid=node-panel]');
    await panel.waitFor();
    expect(await page.locator('[data-testid=node-key]').textContent()).toBe(record.nodes.find((n) => n.id === 'teacher')!.key);
    expect(await page.locator('[data-testid=node-epsilon]').textContent()).toMatch(/^ε 2\.000 at δ 2\.0e-6 \(imdb\), 1 DP mechanism/);
    expect(await page.locator('[data-testid=node-params]').textContent()).toContain('"controlCodes": true');
    expect(await page.locator('[data-testid=node-why]').textContent()).toContain('never run before');
    expect(await page.locator('[data-testid=node-log]').textContent()).toMatch(/DP-SGD: n 32, q/);
    await keep('graph');
  });

  test('Graph of a graph file: its plan, every node cached after the run', async () => {
    await show('#/graph?graph=0');
    await page.getByText('plan of tiny-ui').waitFor();
    expect(await page.locator('[data-testid=dag] g.node[data-status=cached]').count()).toBe(14);
    expect(await page.textContent('main')).toContain('plan of tiny-ui');
    pages.push({ name: 'plan', html: await page.content() });
  });

  test('Privacy: ε over time against the budget, each mechanism with its event, the gaps, and what the plan would add', async () => {
    await show('#/privacy');
    const card = page.locator('[data-testid=unit-imdb]');
    await card.waitFor();
    expect(await card.locator('h3').first().textContent()).toMatch(/^imdb: ε \d\.\d{3} at δ 2\.0e-6 \(pld\) of a budget ε = 8$/);
    expect(await page.locator('[data-testid=epsilon-imdb] circle').count()).toBe(4); // teacher, histogram, two DP-SGD students
    expect(await page.locator('[data-testid=epsilon-imdb]').textContent()).toContain('budget ε = 8');
    const ledger = await page.locator('[data-testid=ledger]').textContent();
    expect(ledger).toContain('PoissonSampled(q=');
    expect(ledger).toContain('dpsgd[epsilon=2]');
    expect(await page.locator('[data-testid=gaps]').textContent()).toContain('evaluation on the private test split');
    expect(await page.locator('[data-testid=planned]').textContent()).toContain('nothing new to charge');
    await keep('privacy');
  });

  test('Results: each table with its plots; a row links to its node, its DP actions and their ledger entries', async () => {
    await show('#/results');
    await page.locator('[data-testid=result-table]').nth(1).waitFor();
    expect(await page.locator('[data-testid=result-table]').count()).toBe(2);
    const first = page.locator('[data-testid=result-table]').first();
    expect(await first.locator('[data-testid=plot-epsilon] circle').count()).toBeGreaterThanOrEqual(3);
    expect(await first.locator('[data-testid=plot-ratio] circle').count()).toBeGreaterThanOrEqual(3);
    expect(await first.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    await first.locator('a.cell[data-row="2"]').first().click();
    const sources = first.locator('[data-testid=row-sources]');
    expect(await sources.textContent()).toMatch(/DP-SGD student: metrics from pplDpsgd\[epsilon=\d\]/);
    await keep('results');
    await sources.locator('a[href^="#/privacy?seq="]').first().click();
    await page.locator('[data-testid=ledger] tr.selected').waitFor();
    expect(await page.locator('[data-testid=ledger] tr.selected').textContent()).toContain('dpsgd[epsilon=');
  });

  test('Runs: history with timings; a run that starts appears live, without a reload', async () => {
    await show('#/runs');
    await page.locator(`tr[data-run="${record.id}"]`).waitFor();
    expect(await page.locator(`tr[data-run="${record.id}"]`).textContent()).toContain('14 ran');
    await writeRunRecord(await openStore(store), {
      ...record,
      id: `${record.id}-live`,
      status: 'running',
      pid: process.pid,
      startedAt: new Date().toISOString(),
    });
    await page.locator(`tr[data-run="${record.id}-live"] .live`).waitFor({ timeout: 15_000 });
    await keep('runs');
  });

  test('no page and no response holds private document text', () => {
    const secrets = privateTexts(store);
    expect(secrets.length).toBeGreaterThan(40);
    expect(served.length).toBeGreaterThan(10);
    for (const { url, body } of [...served, ...pages.map((p) => ({ url: p.name, body: p.html }))]) {
      for (const secret of secrets) expect(leaks(body, secret), `${url} holds private text "${secret}"`).toBe(false);
    }
    // The check sees what it looks for: the Dataset object of the store holds the pieces.
    const datasetText = readFileSync(join(store, 'objects', ...findDatasetObject(store)), 'utf8');
    expect(leaks(datasetText, secrets[0]!)).toBe(true);
  });
});

function findDatasetObject(dir: string): [string, string] {
  for (const n of record.nodes.filter((n) => n.type === 'Dataset')) {
    const digest = n.outputs?.dataset?.digest;
    if (digest && n.id === 'imdb') return [digest.slice(0, 2), digest.slice(2)];
  }
  throw new Error(`no imdb Dataset object in ${dir}`);
}
