// A small iterative radix-2 FFT in Float64.
//
// Why hand-written: no FFT package is installed, and the PLD accountant needs double precision
// (Float32 FFTs, as in most WebGL/tfjs paths, would swamp δ ≈ 1e-5..1e-10 in round-off). Radix-2
// suffices because we choose the padded lengths. Tested against a naive DFT.

const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();

function twiddles(n: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddleCache.get(n);
  if (!t) {
    const cos = new Float64Array(n / 2);
    const sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      cos[k] = Math.cos((2 * Math.PI * k) / n);
      sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    if (twiddleCache.size > 8) twiddleCache.clear();
    twiddleCache.set(n, (t = { cos, sin }));
  }
  return t;
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** In-place complex FFT of (re, im), length a power of two. inverse: e^{+2πik/n}, scaled by 1/n. */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (!isPowerOfTwo(n) || im.length !== n) throw new Error(`fft: length ${n} is not a power of two`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  const { cos, sin } = twiddles(n);
  const sgn = inverse ? 1 : -1;
  for (let size = 2; size <= n; size *= 2) {
    const half = size / 2;
    const stride = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * stride];
        const wi = sgn * sin[k * stride];
        const a = start + k;
        const b = a + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
  if (inverse) for (let i = 0; i < n; i++) { re[i] /= n; im[i] /= n; }
}

/** Naive O(n²) DFT, the oracle for tests. */
export function naiveDft(re: ArrayLike<number>, im: ArrayLike<number>, inverse = false): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  const sgn = inverse ? 1 : -1;
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      const ang = (sgn * 2 * Math.PI * ((k * t) % n)) / n;
      sr += re[t] * Math.cos(ang) - im[t] * Math.sin(ang);
      si += re[t] * Math.sin(ang) + im[t] * Math.cos(ang);
    }
    outRe[k] = inverse ? sr / n : sr;
    outIm[k] = inverse ? si / n : si;
  }
  return { re: outRe, im: outIm };
}

/** Linear convolution of two real sequences via the FFT (padded to a power of two). */
export function convolve(a: Float64Array, b: Float64Array): Float64Array {
  const m = a.length + b.length - 1;
  if (a.length * b.length <= 4096) {
    const out = new Float64Array(m);
    for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) out[i + j] += a[i] * b[j];
    return out;
  }
  // Two real signals in one complex FFT: x = a + i·b, then A = (X_k + conj X_{n−k})/2, B = (X_k − conj X_{n−k})/(2i).
  const n = nextPowerOfTwo(m);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  re.set(a);
  im.set(b);
  fft(re, im);
  const pr = new Float64Array(n);
  const pi = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const nk = (n - k) & (n - 1);
    const ar = (re[k] + re[nk]) / 2, ai = (im[k] - im[nk]) / 2;
    const br = (im[k] + im[nk]) / 2, bi = -(re[k] - re[nk]) / 2;
    pr[k] = ar * br - ai * bi;
    pi[k] = ar * bi + ai * br;
  }
  fft(pr, pi, true);
  return pr.subarray(0, m).slice();
}

/** n-fold circular self-convolution of a real sequence padded to length `size` (a power of two):
 *  the spectrum raised to the n-th power in polar form. */
export function circularSelfConvolve(p: Float64Array, size: number, n: number): Float64Array {
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(p);
  fft(re, im);
  for (let k = 0; k < size; k++) {
    const r = Math.hypot(re[k], im[k]);
    if (r === 0) continue;
    const mag = Math.pow(r, n);
    const ang = n * Math.atan2(im[k], re[k]);
    re[k] = mag * Math.cos(ang);
    im[k] = mag * Math.sin(ang);
  }
  fft(re, im, true);
  return re;
}
