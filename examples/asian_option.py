"""Price an arithmetic-average Asian call with simhost's `mc_asian` kernel.

    simhost examples/asian_option.py --out asian.png
    PYTHONPATH=build/release/python /usr/bin/python3 examples/asian_option.py

An at-the-money call on a stock at 100, strike 100, rate 5%, volatility 20%, one year,
averaged over 252 daily closes. The script prices it with more and more paths, three ways
(plain Monte Carlo, antithetic pairs, and the geometric-average call as control variate),
prints the estimates with their standard errors, checks the European call priced on the
same paths against Black-Scholes, and plots price +- stderr against the number of paths.
The exit status is non-zero when the numbers are clearly wrong (a European price many
standard errors from Black-Scholes, or a control variate that does not help).
"""

import argparse
import math
import sys
import time

import simhost

OPTION = dict(S0=100.0, K=100.0, r=0.05, sigma=0.2, T=1.0, steps=252)


def black_scholes_call(S0, K, r, sigma, T, **_):
    """The European call in closed form (the check on the european output)."""
    cdf = lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0))  # noqa: E731
    sd = sigma * math.sqrt(T)
    d1 = (math.log(S0 / K) + (r + 0.5 * sigma**2) * T) / sd
    return S0 * cdf(d1) - K * math.exp(-r * T) * cdf(d1 - sd)


def main():
    ap = argparse.ArgumentParser(description="Asian option convergence with simhost.mc_asian")
    ap.add_argument("--max-paths", type=int, default=100_000,
                    help="largest number of paths (default 1e5; 2e6 takes ~80x longer)")
    ap.add_argument("--seed", type=int, default=2024, help="seed of the random numbers")
    ap.add_argument("--out", default="asian_option.png", help="PNG to write")
    args = ap.parse_args()

    methods = {
        "plain": dict(),
        "antithetic": dict(antithetic=True),
        "control variate": dict(control_variate=True),
    }
    counts = []
    n = 1000
    while n <= args.max_paths:
        counts.append(n)
        n *= 2
    results = {name: [] for name in methods}
    t0 = time.perf_counter()
    for paths in counts:
        for name, extra in methods.items():
            r = simhost.kernels.mc_asian(**OPTION, paths=paths, seed=args.seed, **extra)
            results[name].append(r)
    elapsed = time.perf_counter() - t0
    total_paths = 3 * sum(counts)

    bs = black_scholes_call(**OPTION)
    print(f"Asian call, S0={OPTION['S0']} K={OPTION['K']} r={OPTION['r']} "
          f"sigma={OPTION['sigma']} T={OPTION['T']}, {OPTION['steps']} averaging dates")
    print(f"{'paths':>9}  " + "  ".join(f"{name:>26}" for name in methods))
    for i, paths in enumerate(counts):
        cells = [f"{results[m][i].price:9.5f} +- {results[m][i].stderr:8.5f}" for m in methods]
        print(f"{paths:9d}  " + "  ".join(f"{c:>26}" for c in cells))
    plain, cv = results["plain"][-1], results["control variate"][-1]
    anti = results["antithetic"][-1]
    gain = (plain.stderr / cv.stderr) ** 2
    print(f"control variate: variance {gain:.0f}x smaller than plain "
          f"(the same precision with {gain:.0f}x fewer paths)")
    print(f"antithetic: variance {(plain.stderr / anti.stderr) ** 2:.2f}x smaller "
          "at the same number of paths")
    z = (plain.european - bs) / plain.european_stderr
    print(f"european on the same paths: {plain.european:.4f} +- {plain.european_stderr:.4f}, "
          f"Black-Scholes {bs:.4f} ({z:+.1f} stderr)")
    print(f"{total_paths:,} paths x {OPTION['steps']} steps in {elapsed:.2f} s "
          f"({total_paths * OPTION['steps'] / elapsed / 1e9:.2f} billion path-steps/s, "
          f"{simhost.get_threads()} threads)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.5))
    styles = {"plain": "C0", "antithetic": "C1", "control variate": "C2"}
    for k, (name, color) in enumerate(styles.items()):
        shift = 1.0 + 0.05 * (k - 1)  # spread the error bars apart
        xs = [p * shift for p in counts]
        ax1.errorbar(xs, [r.price for r in results[name]], yerr=[r.stderr for r in results[name]],
                     fmt="o-", color=color, capsize=3, label=name)
        ax3.loglog(counts, [r.stderr for r in results[name]], "o-", color=color, label=name)
    ax1.axhline(cv.price, color="C2", lw=0.8, ls=":",
                label=f"control variate at {counts[-1]:,} paths")
    ax1.set_xscale("log")
    ax1.set_xlabel("number of paths")
    ax1.set_ylabel("price (currency)")
    ax1.set_title("Asian call: price +- standard error")
    ax1.legend(fontsize=8)
    ax2.errorbar(counts, [r.european for r in results["plain"]],
                 yerr=[r.european_stderr for r in results["plain"]], fmt="s-", color="0.3",
                 capsize=3, label="European call on the same paths")
    ax2.axhline(bs, color="k", lw=1, ls="--", label=f"Black-Scholes {bs:.4f}")
    ax2.set_xscale("log")
    ax2.set_xlabel("number of paths")
    ax2.set_ylabel("price (currency)")
    ax2.set_title("European call: the check")
    ax2.legend(fontsize=8)
    ax3.loglog(counts, [plain.stderr * math.sqrt(counts[-1] / c) for c in counts], "k:",
               lw=1, label=r"$\propto 1/\sqrt{paths}$")
    ax3.set_xlabel("number of paths")
    ax3.set_ylabel("standard error of the Asian price (currency)")
    ax3.set_title("convergence: standard error vs paths")
    ax3.legend(fontsize=8)
    fig.suptitle(f"mc_asian: at-the-money Asian call (S0 = K = {OPTION['S0']:g}, "
                 f"r = {OPTION['r']:g}, sigma = {OPTION['sigma']:g}, T = {OPTION['T']:g} year, "
                 f"{OPTION['steps']} averaging dates)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")

    if abs(z) > 5:
        print("FAIL: the European price is more than 5 standard errors from Black-Scholes")
        return 1
    if gain < 10:
        print("FAIL: the control variate reduced the variance by less than 10x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
