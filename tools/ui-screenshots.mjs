// Screenshots of `dpkd ui` for the docs: docs/img/ui-graph.png, ui-privacy.png, ui-results.png and ui-runs.png.
// Builds dist/, runs the tiny graph of the dashboard's tests (libs/ui/test/fixtures/tiny-ui.json, seconds of
// CPU) into a scratch store, or shows an existing store (--store DIR, with the graph files named after it), and
// photographs each page in Debian's headless chromium (apt-get install chromium).
//   node tools/ui-screenshots.mjs [--store DIR] [graph.json ...]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, 'docs/img');
const args = process.argv.slice(2);
const storeFlag = args.indexOf('--store');
const scratch = mkdtempSync(join(tmpdir(), 'dpkd-ui-shots-'));
const store = storeFlag >= 0 ? resolve(args[storeFlag + 1]) : join(scratch, 'store');
let graphs = args.filter((a, i) => i !== storeFlag && i !== storeFlag + 1).map((g) => resolve(g));
const dpkd = (...a) =>
  execFileSync(process.execPath, [join(root, 'dist/dpkd.js'), ...a], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

execFileSync(process.execPath, [join(root, 'tools/build.mjs')], { stdio: 'inherit' });
if (storeFlag < 0) {
  graphs = [join(root, 'libs/ui/test/fixtures/tiny-ui.json')];
  dpkd('run', graphs[0], '--store', store, '--executor', 'in-process');
}

const ui = spawn(process.execPath, [join(root, 'dist/dpkd.js'), 'ui', '--port', '0', '--store', store, ...graphs], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((done, fail) => {
  let text = '';
  ui.stdout.on('data', (d) => {
    text += d;
    const m = /dpkd ui: (http:\/\/\S+)/.exec(text);
    if (m) done(m[1]);
  });
  ui.once('exit', (code) => fail(new Error(`dpkd ui exited with ${code}`)));
});

if (!existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: apt-get install chromium');
const browser = await chromium.launchPersistentContext(join(scratch, 'profile'), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1360, height: 820 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const page = browser.pages()[0] ?? (await browser.newPage());
mkdirSync(out, { recursive: true });
const shoot = async (hash, name, ready) => {
  await page.goto(`${url}${hash}`);
  await page.locator(ready).first().waitFor({ timeout: 120_000 });
  await page.waitForTimeout(300); // let the last fetch paint
  await page.screenshot({ path: join(out, `ui-${name}.png`) });
  process.stdout.write(`docs/img/ui-${name}.png\n`);
};
try {
  await shoot('#/graph', 'graph', '[data-testid=dag] g.node');
  const teacher = page.locator('g.node[data-node="teacher"]');
  if (await teacher.count()) {
    await teacher.click();
    await shoot(`#/graph?node=teacher`, 'graph', '[data-testid=node-panel] [data-testid=node-epsilon]');
  }
  await shoot('#/privacy', 'privacy', '[data-testid=ledger]');
  await shoot('#/results', 'results', '[data-testid=result-table]');
  await shoot('#/runs', 'runs', '[data-testid=runs]');
} finally {
  await browser.close();
  ui.kill('SIGTERM');
  rmSync(scratch, { recursive: true, force: true });
}
