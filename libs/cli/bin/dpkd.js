#!/usr/bin/env node
// The `dpkd` command: runs the bundle that `npm ci` (prepare) or `npm run build` writes.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const bundle = join(dirname(fileURLToPath(import.meta.url)), '../../../dist/dpkd.js');
if (!existsSync(bundle)) {
  console.error(`dpkd: ${bundle} is missing; run \`npm run build\` (npm ci runs it too).`);
  process.exit(2);
}
await import(pathToFileURL(bundle).href);
