// `npm run data:debian`: fetches the Debian-packaged corpora (FOLDOC for `foldoc`, the fortunes for
// `fortunes`) into the git-ignored cache data/cache/ (or $DPKD_DATA_CACHE).
// Why `apt-get download` + `dpkg -x` rather than `apt-get install`: nothing is installed
// system-wide, no root-owned files land in /usr, and `dict-foldoc`'s recommended `dictd` server is
// never pulled in or started. Idempotent: a package whose .deb is present and already extracted is
// skipped, so re-running costs nothing and works offline.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cache = resolve(process.env.DPKD_DATA_CACHE ?? join(root, 'data/cache'));
const debs = join(cache, 'debs');
const extracted = join(cache, 'deb');
const manifestPath = join(cache, 'debian-manifest.json');

// Pinned to Debian 12 (bookworm); the content digests in libs/data/src/pins.ts were computed from these
// (a Dataset refuses other content, so a fallback version below is caught at plan time).
const packages = [
  { name: 'dict-foldoc', version: '20230119-1', corpus: 'foldoc' },
  { name: 'fortunes', version: '1:1.99.1-7.3', corpus: 'fortunes' },
  { name: 'fortunes-min', version: '1:1.99.1-7.3', corpus: 'fortunes' },
];

const run = (cmd, args, cwd) => spawnSync(cmd, args, { cwd, encoding: 'utf8' });
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
const debFile = (name) => readdirSync(debs).find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));

for (const tool of ['apt-get', 'dpkg']) {
  if (run(tool, ['--version']).status !== 0) {
    console.error(`data:debian: '${tool}' was not found; this script needs a Debian or Ubuntu system.`);
    process.exit(1);
  }
}
mkdirSync(debs, { recursive: true });
mkdirSync(extracted, { recursive: true });
const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : { packages: {} };

let updated = false;
const download = (pkg) => {
  const attempt = (spec) => run('apt-get', ['download', spec], debs);
  let r = attempt(`${pkg.name}=${pkg.version}`);
  if (r.status !== 0 && !updated && process.getuid?.() === 0) {
    console.log('data:debian: apt-get download failed; running apt-get update once and retrying');
    run('apt-get', ['update'], debs);
    updated = true;
    r = attempt(`${pkg.name}=${pkg.version}`);
  }
  if (r.status !== 0) {
    // The pinned version may have left the archive; the candidate is fine but the digests may move.
    const fallback = attempt(pkg.name);
    if (fallback.status !== 0) {
      console.error(
        `data:debian: could not download ${pkg.name}: ${(fallback.stderr || r.stderr).trim().split('\n').pop()}\n` +
          `  fix: run 'apt-get update' (as root) and retry, or copy ${pkg.name}_*.deb into ${debs}`,
      );
      return false;
    }
    console.warn(
      `data:debian: ${pkg.name} ${pkg.version} is not available; took the candidate version (its content will not match the pin in libs/data/src/pins.ts, and Datasets refuse it)`,
    );
  }
  return true;
};

let failures = 0;
for (const pkg of packages) {
  let file = debFile(pkg.name);
  if (!file) {
    console.log(`data:debian: downloading ${pkg.name}`);
    if (!download(pkg)) {
      failures++;
      continue;
    }
    file = debFile(pkg.name);
  }
  const path = join(debs, file);
  const digest = sha256(path);
  if (manifest.packages[pkg.name]?.sha256 === digest && manifest.packages[pkg.name]?.extracted) {
    console.log(`data:debian: ${pkg.name} already present (${file})`);
    continue;
  }
  const r = run('dpkg', ['-x', path, extracted]);
  if (r.status !== 0) {
    console.error(`data:debian: dpkg -x ${file} failed: ${r.stderr.trim()}\n  fix: delete ${path} and run again`);
    failures++;
    continue;
  }
  manifest.packages[pkg.name] = { file, sha256: digest, corpus: pkg.corpus, extracted: true };
  console.log(`data:debian: extracted ${file} into ${extracted}`);
}

const tmp = `${manifestPath}.${process.pid}.tmp`;
writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
renameSync(tmp, manifestPath);
if (failures > 0) process.exit(1);
console.log(`data:debian: done; corpora 'foldoc' and 'fortunes' read ${extracted}`);
