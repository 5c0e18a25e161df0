// Store benchmark: `node tools/bench/run.mjs store` once copied to tools/bench/store.ts, or
// bundle by hand (see README). Prints throughputs and ratios measured side by side in one run.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { copyFile, open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppendLog, canonicalJson, Store, writeFileAtomic } from '@dpkd/store';

const MB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'dpkd-store-bench-'));
const now = () => performance.now();

async function time<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = now();
  const value = await fn();
  return { ms: now() - start, value };
}

/** Peak RSS growth while fn runs, sampled every 5 ms (maxRSS is a lifetime high-water mark, useless after the file is created). */
async function peakRssGrowth<T>(fn: () => Promise<T>): Promise<{ mb: number; ms: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const { ms } = await time(fn);
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { mb: (peak - base) / MB, ms };
}

async function main() {
  const sizeMb = Number(process.argv[2] ?? 100);
  const source = join(dir, 'big.bin');
  const handle = await open(source, 'w');
  for (let i = 0; i < sizeMb; i++) await handle.write(randomBytes(MB));
  await handle.sync();
  await handle.close();

  const store = await Store.open(join(dir, 'store'));
  console.log(`# large file: ${sizeMb} MB`);
  const hashOnly = await peakRssGrowth(async () => {
    const h = createHash('sha256');
    for await (const chunk of createReadStream(source)) h.update(chunk as Buffer);
    return h.digest('hex');
  });
  const plainCopy = await peakRssGrowth(() => copyFile(source, join(dir, 'copy.bin')));
  const put = await peakRssGrowth(() => store.putFile(source));
  const reput = await time(() => store.putFile(source));
  const moveSource = join(dir, 'move.bin');
  await copyFile(source, moveSource);
  const move = await peakRssGrowth(() => store.putBytes('x').then(() => store.putFile(moveSource, { move: true })));
  const verify = await time(() => store.verify());
  const row = (name: string, ms: number, extra = '') =>
    console.log(
      `${name.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(6)} s  ${(sizeMb / (ms / 1000)).toFixed(0).padStart(5)} MB/s ${extra}`,
    );
  row('sha256 stream only', hashOnly.ms, `peak RSS +${hashOnly.mb.toFixed(1)} MB`);
  row('fs.copyFile (no hash, no fsync)', plainCopy.ms, `peak RSS +${plainCopy.mb.toFixed(1)} MB`);
  row('putFile copy (hash+write+fsync)', put.ms, `peak RSS +${put.mb.toFixed(1)} MB; ${(put.ms / hashOnly.ms).toFixed(2)}x hash-only`);
  row('putFile again (existing: re-hash)', reput.ms);
  row('putFile move (hash+rename)', move.ms, `peak RSS +${move.mb.toFixed(1)} MB`);
  row('verify (re-hash all objects)', verify.ms, `(${verify.value.checked} objects)`);

  console.log('\n# small writes (1 KB), sequential');
  const n = 300;
  const payloads = Array.from({ length: n }, (_, i) => `${i}:${'y'.repeat(1020)}`);
  const plain = await time(async () => {
    for (let i = 0; i < n; i++) await writeFile(join(dir, `plain-${i}`), payloads[i]!);
  });
  const atomic = await time(async () => {
    for (let i = 0; i < n; i++) await writeFileAtomic(join(dir, `atomic-${i}`), payloads[i]!);
  });
  const puts = await time(async () => {
    for (const p of payloads) await store.putBytes(p);
  });
  const reputs = await time(async () => {
    for (const p of payloads) await store.putBytes(p);
  });
  const locks = await time(async () => {
    for (let i = 0; i < n; i++) await store.withLock('bench', () => undefined);
  });
  const perOp = (ms: number) => `${((ms / n) * 1000).toFixed(0).padStart(6)} µs/op`;
  console.log(`writeFile (not atomic, no fsync)   ${perOp(plain.ms)}`);
  console.log(`writeFileAtomic (fsync + rename)   ${perOp(atomic.ms)}  ${(atomic.ms / plain.ms).toFixed(1)}x writeFile`);
  console.log(`putBytes new object                ${perOp(puts.ms)}  ${(puts.ms / atomic.ms).toFixed(2)}x writeFileAtomic`);
  console.log(`putBytes existing object           ${perOp(reputs.ms)}`);
  console.log(`withLock uncontended               ${perOp(locks.ms)}`);

  console.log('\n# append log');
  const log = new AppendLog(join(dir, 'ledger.jsonl'));
  const appends = await time(async () => {
    for (let i = 0; i < n; i++) await log.append({ dataset: 'imdb', epsilon: 0.5, action: 'a'.repeat(64), i });
  });
  const logVerify = await time(() => log.verify());
  console.log(`append (lock + write + fsync + head) ${perOp(appends.ms)}`);
  console.log(`verify ${n} entries                  ${logVerify.ms.toFixed(1)} ms (ok=${logVerify.value.ok})`);

  console.log('\n# canonical JSON of a manifest-sized object');
  const manifest = {
    node: 'DPFineTune',
    version: 3,
    params: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${39 - i}`, i * 1.5])),
    inputs: { a: 'f'.repeat(64), b: 'e'.repeat(64) },
  };
  const reps = 20_000;
  const canon = await time(async () => {
    for (let i = 0; i < reps; i++) canonicalJson(manifest);
  });
  const plainJson = await time(async () => {
    for (let i = 0; i < reps; i++) JSON.stringify(manifest);
  });
  console.log(
    `canonicalJson ${((canon.ms / reps) * 1000).toFixed(1)} µs, JSON.stringify ${((plainJson.ms / reps) * 1000).toFixed(1)} µs: ${(canon.ms / plainJson.ms).toFixed(1)}x`,
  );
}

void main().finally(() => rmSync(dir, { recursive: true, force: true }));
