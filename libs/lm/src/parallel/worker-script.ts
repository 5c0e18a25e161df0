// Where the replica worker's JavaScript is. Node 20 cannot run TypeScript in a worker thread, so:
// DPKD_LM_WORKER if set; else lm-worker.js next to the running bundle (dist/dpkd.js and dist/lm-worker.js
// are built together by tools/build.mjs); else (running from sources: vitest, the benches) worker.ts is
// bundled once per process with esbuild into node_modules/.cache, where its npm imports resolve.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let built: Promise<string> | undefined;

export const workerScript = (): Promise<string> => {
  const forced = process.env.DPKD_LM_WORKER;
  if (forced) return Promise.resolve(forced);
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'lm-worker.js'), join(here, '..', 'lm-worker.js')])
    if (existsSync(candidate)) return Promise.resolve(candidate);
  const source = join(here, 'worker.ts');
  if (!existsSync(source))
    throw new Error(`the lm worker script is missing: build it (npm run build writes dist/lm-worker.js) or set DPKD_LM_WORKER`);
  return (built ??= bundleFromSource(source));
};

const bundleFromSource = async (source: string): Promise<string> => {
  const root = join(dirname(source), '..', '..', '..', '..');
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [source],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'warning',
    plugins: [
      {
        name: 'external-packages',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (a) => (a.path.startsWith('@dpkd/') ? undefined : { path: a.path, external: true }));
        },
      },
    ],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const dir = join(root, 'node_modules', '.cache', 'dpkd');
  mkdirSync(dir, { recursive: true });
  // Named by content: concurrent test processes share one file, and an edited worker gets a new one.
  const contents = result.outputFiles[0]!.contents;
  const file = join(dir, `lm-worker-${createHash('sha256').update(contents).digest('hex').slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    writeFileSync(`${file}.${process.pid}.tmp`, contents);
    renameSync(`${file}.${process.pid}.tmp`, file);
  }
  return file;
};
