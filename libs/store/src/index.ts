export { canonicalJson } from './canonical-json';
export { digestOf, sha256Hex } from './hash';
