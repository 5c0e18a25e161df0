/** What a loader yields before normalisation; a missing key is derived from the normalised text. */
export interface RawDocument {
  key?: string;
  text: string;
  label?: string;
}
