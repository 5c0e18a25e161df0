// Bundles the `dpkd` command into dist/dpkd.js.
// Why a bundle: the libs are TypeScript sources linked as npm workspaces (`@dpkd/*` resolve to
// libs/*/src/index.ts); Node 20 cannot run TypeScript, so the CLI (and the worker processes it
// spawns) run one esbuild bundle. Third-party packages stay external and load from node_modules.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

const externalPackages = {
  name: 'external-packages',
  setup(b) {
    // Bundle our own workspace libs and relative imports; leave every npm package external.
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@dpkd/') ? undefined : { path: args.path, external: true }));
  },
};

const options = {
  entryPoints: [join(root, 'libs/cli/src/main.ts')],
  outfile: join(root, 'dist/dpkd.js'),
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
const result = await build(options);
// The data-parallel replicas' worker-thread entry (libs/lm/src/parallel/worker.ts), found next to dpkd.js.
const lmWorker = await build({
  ...options,
  entryPoints: [join(root, 'libs/lm/src/parallel/worker.ts')],
  outfile: join(root, 'dist/lm-worker.js'),
});

// Write each output to a temp file and rename it into place: a concurrent reader (a test run, a
// worker process) never sees a half-written bundle.
for (const file of [...result.outputFiles, ...lmWorker.outputFiles]) {
  mkdirSync(dirname(file.path), { recursive: true });
  const tmp = `${file.path}.${process.pid}.tmp`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, file.path);
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
