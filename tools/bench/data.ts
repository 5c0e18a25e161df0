// `npm run bench -- data [corpus…]`: load time and peak memory per corpus, then the time of
// `datasetInfo` (normalise, dedup, split, digests, token count without the token cache). Each
// corpus runs in a fresh child process so one corpus's heap does not inflate the next one's peak.
import { spawnSync } from 'node:child_process';
import { corpusNames, datasetInfo, describeCorpus, loadCorpusWithStats } from '@dpkd/data';

const [mode, name] = process.argv.slice(2);
const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;

if (mode === '--one' && name) {
  const t0 = performance.now();
  const { documents, stats } = await loadCorpusWithStats(name);
  const load = (performance.now() - t0) / 1000;
  const peakLoad = process.resourceUsage().maxRSS * 1024;
  const t1 = performance.now();
  const info = await datasetInfo(name, {}, { cacheTokens: false });
  const infoSeconds = (performance.now() - t1) / 1000;
  console.log(
    [
      name.padEnd(11),
      `${documents.length} docs (raw ${stats.raw}, dup ${stats.duplicates}, empty ${stats.empty})`,
      `${(info.characters / 1e6).toFixed(2)} M chars`,
      `${(info.tokens / 1e6).toFixed(2)} M tokens (${(info.characters / info.tokens).toFixed(2)} chars/token)`,
      `load ${load.toFixed(2)} s, peak RSS ${mb(peakLoad)}`,
      `info (load+split+digest+tokens) ${infoSeconds.toFixed(2)} s, peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`,
    ].join(' | '),
  );
} else {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : corpusNames;
  for (const corpus of names) {
    if (!describeCorpus(corpus).available) {
      console.log(`${corpus.padEnd(11)} | not available: ${describeCorpus(corpus).howToGet}`);
      continue;
    }
    spawnSync(process.execPath, [process.argv[1]!, '--one', corpus], { stdio: 'inherit' });
  }
}
