import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);

/** The folder of an installed npm package, or undefined when it is not installed. */
export function packageDir(name: string): string | undefined {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** The installed version of an npm package (for provenance), or undefined. */
export function packageVersion(name: string): string | undefined {
  const dir = packageDir(name);
  if (dir === undefined) return undefined;
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
}

function workspaceRootFrom(start: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { workspaces?: unknown }).workspaces) return dir;
      } catch {
        // An unreadable package.json is not the workspace root; keep walking up.
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The npm workspace root (the nearest package.json with `workspaces`) found from the current directory,
 * else from this module's location (the bundle lives in <root>/dist); undefined outside a checkout.
 */
export function workspaceRoot(): string | undefined {
  return workspaceRootFrom(process.cwd()) ?? workspaceRootFrom(dirname(new URL(import.meta.url).pathname));
}

/** The data cache: $DPKD_DATA_CACHE, else data/cache under the workspace root (else the current directory). */
export function dataCacheDir(override?: string): string {
  if (override) return resolve(override);
  if (process.env.DPKD_DATA_CACHE) return resolve(process.env.DPKD_DATA_CACHE);
  return join(workspaceRoot() ?? process.cwd(), 'data/cache');
}

/** The root `dpkg -x` extracted the Debian packages into. */
export const debianRoot = (cacheDir?: string): string => join(dataCacheDir(cacheDir), 'deb');

export const howToGetDebian =
  'npm run data:debian   (apt-get download + dpkg -x into data/cache/; or set DPKD_DATA_CACHE to a cache made that way)';
/** A Debian corpus whose extracted files are not the pinned ones: fetch them again from scratch. */
export const refetchDebian =
  'rm -rf data/cache/deb data/cache/debs data/cache/debian-manifest.json && npm run data:debian   (under $DPKD_DATA_CACHE if set)';
export const howToGetNpm = (pkg: string): string => `npm ci   (installs the pinned ${pkg} from package.json)`;
