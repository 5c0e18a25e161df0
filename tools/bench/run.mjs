// `npm run bench -- NAME [args]`: bundles tools/bench/NAME.ts (with the workspace libs) and runs it.
// Benchmarks print ratios measured side by side in one run; they are never timed unit tests.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const [name, ...args] = process.argv.slice(2);
const source = join(root, 'tools/bench', `${name}.ts`);
if (!name || !existsSync(source)) {
  const names = readdirSync(join(root, 'tools/bench'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3));
  console.error(`usage: npm run bench -- <${names.join('|')}> [args]`);
  process.exit(2);
}
const outfile = join(root, 'dist/bench', `${name}.mjs`);
await build({
  entryPoints: [source],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [
    {
      name: 'external-packages',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (a) => (a.path.startsWith('@dpkd/') ? undefined : { path: a.path, external: true }));
      },
    },
  ],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
