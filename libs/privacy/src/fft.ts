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

/** Lengths the FFT takes: 2^k and 3·2^k (one radix-3 pass on top of radix-2). */
export function isFftSize(n: number): boolean {
  return isPowerOfTwo(n) || (n % 3 === 0 && isPowerOfTwo(n / 3));
}

/** The smallest even FFT length ≥ n whose half is an FFT length too (what `rfft` takes): 2^k or 3·2^k.
 *  Allowing 3·2^k cuts the padding from up to 2× to up to 1.5×, which matters because the composed
 *  PLD window decides the transform size. */
export function nextFftSize(n: number): number {
  const p = Math.max(2, nextPowerOfTwo(n));
  return p >= 8 && (3 * p) / 4 >= n ? (3 * p) / 4 : p;
}

const bitReverseCache = new Map<number, Uint32Array>();

/** Index pairs (i, j), i < j, swapped by the bit-reversal permutation of length n, flattened. */
function bitReversePairs(n: number): Uint32Array {
  let pairs = bitReverseCache.get(n);
  if (!pairs) {
    const out: number[] = [];
    for (let i = 1, j = 0; i < n; i++) {
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) out.push(i, j);
    }
    if (bitReverseCache.size > 8) bitReverseCache.clear();
    bitReverseCache.set(n, (pairs = Uint32Array.from(out)));
  }
  return pairs;
}

/** In-place complex FFT of (re, im), length 2^k or 3·2^k. inverse: e^{+2πik/n}, scaled by 1/n. */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (!isFftSize(n) || im.length !== n) throw new Error(`fft: length ${n} is not 2^k or 3·2^k`);
  const sgn = inverse ? 1 : -1;
  if (isPowerOfTwo(n)) fftPow2(re, im, sgn);
  else fftThreeTimesPow2(re, im, sgn);
  if (inverse) {
    const s = 1 / n;
    for (let i = 0; i < n; i++) {
      re[i] *= s;
      im[i] *= s;
    }
  }
}

/** Length 3m (m a power of two): three radix-2 FFTs of the residues mod 3, then one radix-3 pass
 *  X_{k+tm} = Y0_k + ω^t·W^k·Y1_k + ω^{2t}·W^{2k}·Y2_k (W = e^{∓2πi/n}, ω = W^m). Unscaled. */
function fftThreeTimesPow2(re: Float64Array, im: Float64Array, sgn: number): void {
  const n = re.length;
  const m = n / 3;
  const yr = [new Float64Array(m), new Float64Array(m), new Float64Array(m)];
  const yi = [new Float64Array(m), new Float64Array(m), new Float64Array(m)];
  for (let r = 0; r < 3; r++) {
    const ar = yr[r],
      ai = yi[r];
    for (let j = 0; j < m; j++) {
      ar[j] = re[3 * j + r];
      ai[j] = im[3 * j + r];
    }
    fftPow2(ar, ai, sgn);
  }
  const [y0r, y1r, y2r] = yr;
  const [y0i, y1i, y2i] = yi;
  const s3 = (sgn * Math.sqrt(3)) / 2;
  const { cos, sin } = twiddles(n); // e^{2πij/n} for j < n/2; beyond, e^{2πij/n} = −e^{2πi(j−n/2)/n}
  const halfN = n / 2;
  for (let k = 0; k < m; k++) {
    const w1r = cos[k],
      w1i = sgn * sin[k];
    const j = 2 * k;
    const w2r = j < halfN ? cos[j] : -cos[j - halfN];
    const w2i = sgn * (j < halfN ? sin[j] : -sin[j - halfN]);
    const ar = y1r[k] * w1r - y1i[k] * w1i,
      ai = y1r[k] * w1i + y1i[k] * w1r;
    const br = y2r[k] * w2r - y2i[k] * w2i,
      bi = y2r[k] * w2i + y2i[k] * w2r;
    const sr = ar + br,
      si = ai + bi;
    const dr = ar - br,
      di = ai - bi;
    const cr = y0r[k] - sr / 2,
      ci = y0i[k] - si / 2;
    re[k] = y0r[k] + sr;
    im[k] = y0i[k] + si;
    // ω = −1/2 + i·sgn·√3/2: the D terms get ±i·sgn·(√3/2).
    re[k + m] = cr - s3 * di;
    im[k + m] = ci + s3 * dr;
    re[k + 2 * m] = cr + s3 * di;
    im[k + 2 * m] = ci - s3 * dr;
  }
}

/** Unscaled in-place radix-2 FFT, with the first two stages (trivial twiddles 1 and ∓i) fused into one
 *  radix-4 pass and the rest taken two at a time, which halves the sweeps over memory. */
function fftPow2(re: Float64Array, im: Float64Array, sgn: number): void {
  const n = re.length;
  if (n === 1) return;
  const pairs = bitReversePairs(n);
  for (let s = 0; s < pairs.length; s += 2) {
    const i = pairs[s];
    const j = pairs[s + 1];
    let t = re[i];
    re[i] = re[j];
    re[j] = t;
    t = im[i];
    im[i] = im[j];
    im[j] = t;
  }
  let size: number;
  if (n === 2) {
    const r0 = re[0],
      i0 = im[0];
    re[0] = r0 + re[1];
    im[0] = i0 + im[1];
    re[1] = r0 - re[1];
    im[1] = i0 - im[1];
    size = 4;
  } else {
    // Stages of size 2 and 4 together: for bit-reversed input x0..x3, X = DFT4.
    for (let a = 0; a < n; a += 4) {
      const ar = re[a] + re[a + 1],
        ai = im[a] + im[a + 1];
      const br = re[a] - re[a + 1],
        bi = im[a] - im[a + 1];
      const cr = re[a + 2] + re[a + 3],
        ci = im[a + 2] + im[a + 3];
      const dr = re[a + 2] - re[a + 3],
        di = im[a + 2] - im[a + 3];
      // d times the twiddle sgn·i: (dr + i·di)·(sgn·i) = −sgn·di + i·sgn·dr
      const er = -sgn * di,
        ei = sgn * dr;
      re[a] = ar + cr;
      im[a] = ai + ci;
      re[a + 2] = ar - cr;
      im[a + 2] = ai - ci;
      re[a + 1] = br + er;
      im[a + 1] = bi + ei;
      re[a + 3] = br - er;
      im[a + 3] = bi - ei;
    }
    size = 8;
  }
  const { cos, sin } = twiddles(n);
  // Remaining stages two at a time (radix-2², butterflies kept in registers): half the memory sweeps.
  let half = size / 2;
  for (; half * 4 <= n; half *= 4) {
    const s1 = n / (2 * half); // twiddle stride of the stage of size 2·half
    const s2 = s1 / 2; // ... and of the stage of size 4·half
    for (let start = 0; start < n; start += 4 * half) {
      for (let k = 0; k < half; k++) {
        const w1r = cos[k * s1],
          w1i = sgn * sin[k * s1];
        const w2r = cos[k * s2],
          w2i = sgn * sin[k * s2];
        const a0 = start + k,
          a1 = a0 + half,
          a2 = a1 + half,
          a3 = a2 + half;
        let xr = re[a1] * w1r - im[a1] * w1i,
          xi = re[a1] * w1i + im[a1] * w1r;
        const b0r = re[a0] + xr,
          b0i = im[a0] + xi,
          b1r = re[a0] - xr,
          b1i = im[a0] - xi;
        xr = re[a3] * w1r - im[a3] * w1i;
        xi = re[a3] * w1i + im[a3] * w1r;
        const b2r = re[a2] + xr,
          b2i = im[a2] + xi,
          b3r = re[a2] - xr,
          b3i = im[a2] - xi;
        xr = b2r * w2r - b2i * w2i;
        xi = b2r * w2i + b2i * w2r;
        re[a0] = b0r + xr;
        im[a0] = b0i + xi;
        re[a2] = b0r - xr;
        im[a2] = b0i - xi;
        // The partner of a1 has twiddle w2·(sgn·i).
        const w3r = -sgn * w2i,
          w3i = sgn * w2r;
        xr = b3r * w3r - b3i * w3i;
        xi = b3r * w3i + b3i * w3r;
        re[a1] = b1r + xr;
        im[a1] = b1i + xi;
        re[a3] = b1r - xr;
        im[a3] = b1i - xi;
      }
    }
  }
  if (half * 2 <= n) {
    // One radix-2 stage left (odd number of stages).
    const stride = n / (2 * half);
    for (let start = 0; start < n; start += 2 * half) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * stride];
        const wi = sgn * sin[k * stride];
        const a = start + k;
        const b = a + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
      }
    }
  }
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

/** Spectrum of a real sequence x of length n (an even FFT length), zero-padded from x.length ≤ n:
 *  bins 0..n/2 (the rest follow by conjugate symmetry), by one complex FFT of length n/2 on
 *  z_j = x_{2j} + i·x_{2j+1}. About half the work of a complex FFT of length n. */
export function rfft(x: ArrayLike<number>, n: number): { re: Float64Array; im: Float64Array } {
  if (n % 2 !== 0 || !isFftSize(n / 2) || x.length > n) throw new Error(`rfft: length ${n} must be 2^k or 3·2^k, even, and ≥ ${x.length}`);
  const m = n / 2;
  const zr = new Float64Array(m);
  const zi = new Float64Array(m);
  for (let j = 0; 2 * j < x.length; j++) {
    zr[j] = x[2 * j];
    if (2 * j + 1 < x.length) zi[j] = x[2 * j + 1];
  }
  fft(zr, zi);
  // E_k = (Z_k + conj Z_{m−k})/2 (evens), O_k = (Z_k − conj Z_{m−k})/(2i) (odds), X_k = E_k + W^k O_k.
  const re = new Float64Array(m + 1);
  const im = new Float64Array(m + 1);
  const { cos, sin } = twiddles(n);
  re[0] = zr[0] + zi[0];
  re[m] = zr[0] - zi[0];
  for (let k = 1; k < m; k++) {
    const j = m - k;
    const er = (zr[k] + zr[j]) / 2,
      ei = (zi[k] - zi[j]) / 2;
    const or = (zi[k] + zi[j]) / 2,
      oi = -(zr[k] - zr[j]) / 2;
    const wr = cos[k],
      wi = -sin[k];
    re[k] = er + or * wr - oi * wi;
    im[k] = ei + or * wi + oi * wr;
  }
  return { re, im };
}

/** Inverse of `rfft`: the real sequence of length n whose bins 0..n/2 are (re, im) (scaled by 1/n). */
export function irfft(re: Float64Array, im: Float64Array, n: number): Float64Array {
  const m = n / 2;
  if (n % 2 !== 0 || !isFftSize(m) || re.length !== m + 1 || im.length !== m + 1)
    throw new Error(`irfft: need ${m + 1} bins for an even FFT length, got length ${n}`);
  const zr = new Float64Array(m);
  const zi = new Float64Array(m);
  const { cos, sin } = twiddles(n);
  // E_k = (X_k + conj X_{m−k})/2, O_k = (X_k − conj X_{m−k})·W^{−k}/2, Z_k = E_k + i·O_k.
  for (let k = 0; k < m; k++) {
    const j = m - k;
    const er = (re[k] + re[j]) / 2,
      ei = (im[k] - im[j]) / 2;
    const dr = (re[k] - re[j]) / 2,
      di = (im[k] + im[j]) / 2;
    const wr = cos[k],
      wi = sin[k];
    const or = dr * wr - di * wi,
      oi = dr * wi + di * wr;
    zr[k] = er - oi;
    zi[k] = ei + or;
  }
  fft(zr, zi, true);
  const x = new Float64Array(n);
  for (let j = 0; j < m; j++) {
    x[2 * j] = zr[j];
    x[2 * j + 1] = zi[j];
  }
  return x;
}

/** Linear convolution of two real sequences via real FFTs (padded to 2^k or 3·2^k). */
export function convolve(a: Float64Array, b: Float64Array): Float64Array {
  const m = a.length + b.length - 1;
  if (a.length * b.length <= 4096) {
    const out = new Float64Array(m);
    for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) out[i + j] += a[i] * b[j];
    return out;
  }
  const n = nextFftSize(m);
  const fa = rfft(a, n);
  const fb = rfft(b, n);
  for (let k = 0; k <= n / 2; k++) {
    const r = fa.re[k] * fb.re[k] - fa.im[k] * fb.im[k];
    fa.im[k] = fa.re[k] * fb.im[k] + fa.im[k] * fb.re[k];
    fa.re[k] = r;
  }
  return irfft(fa.re, fa.im, n).subarray(0, m).slice();
}

/** n-fold circular self-convolution of a real sequence padded to length `size` (an FFT length):
 *  the half spectrum raised to the n-th power in polar form. Bins whose n-th power underflows
 *  (|z|^n < 1e-320) are set to 0 without the trigonometry; that changes no output bit above round-off. */
export function circularSelfConvolve(p: Float64Array, size: number, n: number): Float64Array {
  if (size === 1) return Float64Array.of(Math.pow(p[0] ?? 0, n));
  const { re, im } = rfft(p, size);
  const underflow = Math.log(1e-320);
  for (let k = 0; k < re.length; k++) {
    const r2 = re[k] * re[k] + im[k] * im[k];
    const logMag = 0.5 * n * Math.log(r2);
    if (!(logMag > underflow)) {
      re[k] = 0;
      im[k] = 0;
      continue;
    }
    const mag = Math.exp(logMag);
    const ang = n * Math.atan2(im[k], re[k]);
    re[k] = mag * Math.cos(ang);
    im[k] = mag * Math.sin(ang);
  }
  return irfft(re, im, size);
}

/** The previous path, kept as the oracle for tests and the benchmark: a full complex FFT of length
 *  `size` and the power on every bin. */
export function circularSelfConvolveComplex(p: Float64Array, size: number, n: number): Float64Array {
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
