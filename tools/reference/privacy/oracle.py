"""Dev-only: high-precision oracles for libs/privacy tests (mpmath, 50 digits).

Writes libs/privacy/test/reference-oracle.json with
  rdp: RDP of the Poisson-subsampled Gaussian, A_alpha = E_{z~N(0,s^2)}[((1-q) + q exp((2z-1)/(2 s^2)))^alpha]
       by direct quadrature, RDP = log(A)/(alpha-1);
  analytic_gaussian: epsilon of the Gaussian mechanism (sensitivity 1) at delta, root of
       Phi(1/(2s) - e s) - exp(e) Phi(-1/(2s) - e s) = delta (Balle and Wang 2018).
Run: python3 tools/reference/privacy/oracle.py
"""
import json
import mpmath as mp

mp.mp.dps = 50


def rdp(q, s, a):
    q, s, a = mp.mpf(q), mp.mpf(s), mp.mpf(a)
    f = lambda z: mp.npdf(z, 0, s) * ((1 - q) + q * mp.exp((2 * z - 1) / (2 * s * s))) ** a
    # Split where the integrand peaks so quad resolves it.
    pts = [-mp.inf, -20 * s, 0, mp.mpf(1) / 2, 1, a / (s ** -2) if a < 1e4 else 1, 20 * s + a, mp.inf]
    pts = sorted(set(pts), key=lambda x: float(x))
    A = mp.quad(f, pts, maxdegree=10)
    return mp.log(A) / (a - 1)


def gauss_delta(s, e):
    s, e = mp.mpf(s), mp.mpf(e)
    return mp.ncdf(1 / (2 * s) - e * s) - mp.exp(e) * mp.ncdf(-1 / (2 * s) - e * s)


def analytic_eps(s, d):
    return mp.findroot(lambda e: mp.log(gauss_delta(s, e)) - mp.log(d), (mp.mpf(0.001), mp.mpf(200)), solver='anderson')


points = []
for q in (0.001, 0.01, 0.2):
    for s in (0.5, 1.0, 5.0):
        for a in (1.01, 1.1, 1.5, 2, 2.5, 6.5, 8, 32, 63):
            if s == 0.5 and a > 8:
                continue  # A overflows nothing but quadrature is slow for huge values; integer orders are exact sums anyway
            points.append({"q": q, "sigma": s, "alpha": a, "rdp": mp.nstr(rdp(q, s, a), 20)})
# dp_accounting rdp_privacy_accountant_test setting (q=0.01, sigma=2.5): their fractional orders overestimate.
for a in (1.5, 2.5):
    points.append({"q": 0.01, "sigma": 2.5, "alpha": a, "rdp": mp.nstr(rdp(0.01, 2.5, a), 20)})
gaussian = []
for s in (0.8, 1.0, 2.0, 5.0):
    for d in (1e-5, 1e-10):
        gaussian.append({"sigma": s, "delta": d, "epsilon": mp.nstr(analytic_eps(s, d), 20)})
json.dump({"generator": "tools/reference/privacy/oracle.py (mpmath, 50 digits)", "rdp": points, "analytic_gaussian": gaussian},
          open("libs/privacy/test/reference-oracle.json", "w"), indent=1)
print(len(points), "rdp points,", len(gaussian), "analytic points")
