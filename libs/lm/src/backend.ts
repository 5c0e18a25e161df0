import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const require = createRequire(import.meta.url);
let chosen: Promise<string> | undefined;
let loadedPackage: string | undefined;

const candidates: Record<string, Array<[string, string | null]>> = {
  'tensorflow-gpu': [['tensorflow', '@tensorflow/tfjs-node-gpu']],
  tensorflow: [
    ['tensorflow', '@tensorflow/tfjs-node-gpu'],
    ['tensorflow', '@tensorflow/tfjs-node'],
  ],
  wasm: [['wasm', '@tensorflow/tfjs-backend-wasm']],
  cpu: [['cpu', null]],
};

/**
 * Picks the tfjs backend once per process: tfjs-node-gpu, tfjs-node, wasm, cpu, in that order.
 * `force` (default: env DPKD_BACKEND = tensorflow-gpu | tensorflow | wasm | cpu) selects one and
 * throws if it cannot load: a silent fallback to a 20x slower backend would be worse than an error.
 * tf.setBackend() returns false instead of throwing, so its result is checked.
 */
export const initBackend = (force: string | undefined = process.env.DPKD_BACKEND): Promise<string> =>
  (chosen ??= pick(force?.trim() || undefined));

const pick = async (force: string | undefined): Promise<string> => {
  if (force && !candidates[force]) {
    throw new Error(`DPKD_BACKEND='${force}' is not a backend: use one of ${Object.keys(candidates).join(', ')}`);
  }
  const tries = force ? candidates[force]! : [...candidates.tensorflow!, ...candidates.wasm!, ...candidates.cpu!];
  const failures: string[] = [];
  for (const [name, pkg] of tries) {
    try {
      if (pkg) require(pkg);
      if (await tf.setBackend(name)) {
        await tf.ready();
        if (tf.getBackend() === name) {
          tf.enableProdMode();
          loadedPackage = pkg ?? '@tensorflow/tfjs-backend-cpu';
          return name;
        }
      }
      failures.push(`${pkg ?? name}: setBackend returned false`);
    } catch (error) {
      failures.push(`${pkg ?? name}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  chosen = undefined;
  throw new Error(
    `cannot load the tfjs backend ${force ? `'${force}' (forced by DPKD_BACKEND)` : '(tried all)'}: ${failures.join('; ')}` +
      (force ? '. Unset DPKD_BACKEND to pick automatically.' : ''),
  );
};

/**
 * The npm package of the backend initBackend loaded (undefined before it ran): tfjs-node and tfjs-node-gpu both
 * register the backend name 'tensorflow', so provenance and action keys need the package to tell them apart.
 */
export const loadedBackendPackage = (): string | undefined => loadedPackage;

export { tf };
