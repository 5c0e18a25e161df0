// Bundles the `dpkd` command into dist/dpkd.js (and the chunks its commands load, dist/dpkd-chunk-*.js).
// Why a bundle: the libs are TypeScript sources linked as npm workspaces (`@dpkd/*` resolve to
// libs/*/src/index.ts); Node 20 cannot run TypeScript, so the CLI (and the worker processes it
// spawns) run one esbuild bundle. Third-party packages stay external and load from node_modules.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

const externalPackages = {
  name: 'external-packages',
  setup(b) {
    // Bundle our own workspace libs and relative imports; leave every npm package external.
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@dpkd/') ? undefined : { path: args.path, external: true }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  plugins: [externalPackages],
  banner: {
    // Some bundled modules use require/__dirname; give ESM the CommonJS conveniences.
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
  write: false,
};
const dist = join(root, 'dist');
// The CLI, code-split: dist/dpkd.js holds the commands' registration, and each command's action (libs/cli/src/actions,
// imported with import()) is in chunks it loads when it runs, so a start does not load effect, tfjs, bullmq or hono
// for `dpkd --help`. The chunks sit next to dpkd.js, flat, so what the bundled code finds relative to its own file
// (lm-worker.js, ui/, the workspace root) is where it was. Named by content: see the clean-up below.
const result = await build({
  ...common,
  entryPoints: { dpkd: join(root, 'libs/cli/src/main.ts') },
  outdir: dist,
  splitting: true,
  chunkNames: 'dpkd-chunk-[hash]',
});
// The data-parallel replicas' worker-thread entry (libs/lm/src/parallel/worker.ts), found next to dpkd.js. One file,
// not split: nothing else shares its code.
const lmWorker = await build({
  ...common,
  entryPoints: [join(root, 'libs/lm/src/parallel/worker.ts')],
  outfile: join(dist, 'lm-worker.js'),
});

const CHUNK = /dpkd-chunk-[A-Za-z0-9]+\.js/g;
/** The chunks `file` imports, and theirs, by file name (a chunk that is gone is skipped). */
function chunksOf(file, found = new Set()) {
  if (!existsSync(file)) return found;
  for (const name of readFileSync(file, 'utf8').match(CHUNK) ?? []) {
    if (found.has(name)) continue;
    found.add(name);
    chunksOf(join(dist, name), found);
  }
  return found;
}
// Read before dpkd.js is replaced: the chunks of the bundle a process started just before this build may still load.
const previous = chunksOf(join(dist, 'dpkd.js'));

// Write each output to a temp file and rename it into place: a concurrent reader (a test run, a worker process)
// never sees a half-written bundle. dpkd.js last, so a new start never imports a chunk not yet written.
const entryLast = (f) => (basename(f.path).startsWith('dpkd.js') ? 1 : 0);
for (const file of [...lmWorker.outputFiles, ...[...result.outputFiles].sort((a, b) => entryLast(a) - entryLast(b))]) {
  mkdirSync(dirname(file.path), { recursive: true });
  const tmp = `${file.path}.${process.pid}.tmp`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, file.path);
}
// Remove the chunks of older builds (each build with changed code adds some), but keep the previous build's (a
// process that started from that dpkd.js just before the rename imports its chunks when its command runs) and any
// written in the last hour (those of a build running at the same time as this one).
const current = new Set(result.outputFiles.map((f) => basename(f.path)));
for (const name of readdirSync(dist)) {
  const chunk = /^(dpkd-chunk-[A-Za-z0-9]+\.js)(\.map)?$/.exec(name)?.[1];
  if (!chunk || current.has(name) || previous.has(chunk)) continue;
  const file = join(dist, name);
  if (Date.now() - statSync(file, { throwIfNoEntry: false })?.mtimeMs > 3600_000) rmSync(file, { force: true });
}

// The `dpkd ui` front end (libs/ui/src/web): one browser bundle with preact, htm and dagre inside, next to its
// page and stylesheet in dist/ui/, which the server serves (no network at run time).
const web = await build({
  entryPoints: [join(root, 'libs/ui/src/web/main.ts')],
  outfile: join(root, 'dist/ui/app.js'),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  logLevel: 'warning',
  write: false,
});
const webFiles = [
  ...web.outputFiles.map((f) => ({ path: f.path, contents: f.contents })),
  ...['index.html', 'style.css'].map((name) => ({
    path: join(root, 'dist/ui', name),
    contents: readFileSync(join(root, 'libs/ui/src/web', name)),
  })),
];
for (const file of webFiles) {
  mkdirSync(dirname(file.path), { recursive: true });
  const tmp = `${file.path}.${process.pid}.tmp`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, file.path);
}
