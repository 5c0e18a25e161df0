// Where the built front end is: dist/ui/ next to the `dpkd` bundle (tools/build.mjs writes both), or, when
// the libs run from source (tests), the workspace's dist/ui/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function defaultAssetsDir(moduleUrl: string = import.meta.url): string {
  const here = dirname(fileURLToPath(moduleUrl));
  const candidates = [join(here, 'ui'), join(here, '../../../dist/ui'), join(here, '../../../../dist/ui')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!;
}
