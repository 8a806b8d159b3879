"""Statistics for claim verdicts: interval estimates, paired tests, and a three-way verdict.

A claim in avec is never decided by one run. It is decided by a 95% confidence interval on a
rate or an effect size, computed here with scipy:

* **Rates** (key pickup, success, reaching the cheese): :func:`wilson` (the default, good
  coverage at every n) and :func:`clopper_pearson` (exact, conservative), both from
  ``scipy.stats.binomtest``.
* **Medians, means and paired differences** (the maze paper's median P(cheese | decision
  square) before and after patching): percentile bootstrap through ``scipy.stats.bootstrap``
  with an explicit ``np.random.Generator`` seed, so the same data and seed give the same
  interval in any process. The percentile method is rliable's choice (Agarwal et al. 2021) and,
  unlike BCa, stays defined when every resample has the same statistic.
* **Paired tests** of patched vs unpatched on the same layouts: :func:`wilcoxon_signed_rank`
  for continuous outcomes and :func:`mcnemar_exact` for binary outcomes (an exact binomial
  test on the discordant pairs).

:func:`verdict` turns an interval and a threshold into ``"holds"``, ``"fails"`` or
``"inconclusive"``: a claim holds only when the whole interval clears the threshold, fails
only when the whole interval misses it, and anything else asks for more data, not a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import binomtest, bootstrap, norm, trim_mean, wilcoxon

Verdict = Literal["holds", "fails", "inconclusive"]

N_RESAMPLES = 9999
"""Bootstrap resamples (scipy's default)."""

_BOOTSTRAP_CELLS = 10_000_000
"""Cap on resample values held in memory at once (about 80 MB of float64)."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval."""

    value: float
    """The estimate: a rate, a median, a difference of medians, ..."""
    ci95: tuple[float, float]
    """Lower and upper end of the 95% confidence interval."""
    n: int
    """Number of observations (trials, values or pairs) behind the estimate."""
    method: str
    """How the interval was computed, e.g. ``"wilson"`` or ``"bootstrap-percentile median"``."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for reports."""
        return {"value": self.value, "ci95": list(self.ci95), "n": self.n, "method": self.method}


@dataclass(frozen=True)
class PairedTest:
    """The result of a paired significance test (patched vs unpatched on the same layouts)."""

    statistic: float
    """The test statistic (Wilcoxon's T, or the smaller discordant count for McNemar)."""
    p_value: float
    """Two-sided p-value."""
    n: int
    """Pairs that carry information: non-zero differences, or discordant pairs."""
    method: str
    """``"wilcoxon signed-rank"`` or ``"mcnemar exact"``."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for reports."""
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "n": self.n,
            "method": self.method,
        }


# -- rates ------------------------------------------------------------------------------------


def _binomial(successes: int, trials: int, method: str, name: str) -> Estimate:
    if trials <= 0:
        raise ValueError(f"a rate needs at least one trial, got trials={trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in 0..{trials}, got {successes}")
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=0.95, method=method)
    return Estimate(successes / trials, (float(ci.low), float(ci.high)), int(trials), name)


def wilson(successes: int, trials: int) -> Estimate:
    """The rate ``successes / trials`` with its 95% Wilson score interval."""
    return _binomial(successes, trials, "wilson", "wilson")


def clopper_pearson(successes: int, trials: int) -> Estimate:
    """The rate ``successes / trials`` with its exact 95% Clopper-Pearson interval."""
    return _binomial(successes, trials, "exact", "clopper-pearson")


def proportion(
    flags: Sequence[bool] | np.ndarray, method: Literal["wilson", "clopper-pearson"] = "wilson"
) -> Estimate:
    """The fraction of true ``(n,)`` flags, with a 95% interval by ``method``."""
    flags = np.asarray(flags)
    if flags.ndim != 1 or flags.dtype != bool:
        raise ValueError(f"flags must be a 1-d array of booleans, got {flags.dtype} {flags.shape}")
    if method not in ("wilson", "clopper-pearson"):
        raise ValueError(f"method must be 'wilson' or 'clopper-pearson', got {method!r}")
    count = int(flags.sum())
    return wilson(count, len(flags)) if method == "wilson" else clopper_pearson(count, len(flags))


# -- bootstrap --------------------------------------------------------------------------------


def _values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < 2:
        raise ValueError(f"{name} must be a 1-d sequence of at least 2 numbers, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    seed: int,
    n_resamples: int,
    paired: bool,
) -> tuple[float, float]:
    result = bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        batch=max(1, _BOOTSTRAP_CELLS // len(data[0])),
        vectorized=True,
        paired=paired,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return (float(ci.low), float(ci.high))


def bootstrap_median(
    values: Sequence[float] | np.ndarray, seed: int, n_resamples: int = N_RESAMPLES
) -> Estimate:
    """The median of ``(n,)`` values with a 95% percentile-bootstrap interval."""
    array = _values(values, "values")
    ci = _bootstrap((array,), np.median, seed, n_resamples, paired=False)
    return Estimate(float(np.median(array)), ci, len(array), "bootstrap-percentile median")


def bootstrap_mean(
    values: Sequence[float] | np.ndarray, seed: int, n_resamples: int = N_RESAMPLES
) -> Estimate:
    """The mean of ``(n,)`` values with a 95% percentile-bootstrap interval."""
    array = _values(values, "values")
    ci = _bootstrap((array,), np.mean, seed, n_resamples, paired=False)
    return Estimate(float(np.mean(array)), ci, len(array), "bootstrap-percentile mean")


def bootstrap_paired_difference(
    before: Sequence[float] | np.ndarray,
    after: Sequence[float] | np.ndarray,
    seed: int,
    statistic: Callable[..., np.ndarray] = np.median,
    n_resamples: int = N_RESAMPLES,
) -> Estimate:
    """``statistic(after) - statistic(before)`` with a 95% paired percentile-bootstrap interval.

    ``before[i]`` and ``after[i]`` are the same layout unpatched and patched; pairs are
    resampled together, so the interval reflects the paired design. ``statistic`` is a NumPy
    reduction accepting ``axis=`` (``np.median`` gives the maze paper's "median moved from
    0.81 to 0.03"; ``np.mean`` gives the mean paired difference).
    """
    b, a = _values(before, "before"), _values(after, "after")
    if b.shape != a.shape:
        raise ValueError(f"before and after must pair up; got {b.shape} and {a.shape}")

    def difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return statistic(y, axis=axis) - statistic(x, axis=axis)

    ci = _bootstrap((b, a), difference, seed, n_resamples, paired=True)
    name = getattr(statistic, "__name__", "statistic")
    return Estimate(float(difference(b, a)), ci, len(b), f"bootstrap-percentile paired {name}")


# -- trials that share a layout ----------------------------------------------------------------


def _cluster_index(clusters: Sequence[object]) -> tuple[np.ndarray, int]:
    """``(n,)`` cluster number of each trial (in order of first appearance) and the count."""
    numbers: dict[object, int] = {}
    index = np.array([numbers.setdefault(c, len(numbers)) for c in clusters], dtype=np.int64)
    return index, len(numbers)


def clustered_ratio(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    clusters: Sequence[object],
    seed: int,
    n_resamples: int = N_RESAMPLES,
) -> Estimate:
    """``sum(numerator) / sum(denominator)`` with a 95% percentile-bootstrap interval that
    resamples whole clusters (layouts), not single trials.

    Trials on one layout are not independent (the same start state, the same vector), so the
    unit of resampling is the layout. With ``denominator`` all ones this is a clustered mean
    (a rate, for 0/1 numerators); with a paired removal effect as denominator it is the share
    of the removal effect a vector achieves (a ratio-of-means estimator).
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if num.ndim != 1 or num.shape != den.shape or len(num) != len(clusters) or len(num) < 2:
        raise ValueError(
            f"need matching 1-d numerator, denominator and clusters of length >= 2; got "
            f"{num.shape}, {den.shape}, {len(clusters)}"
        )
    if not (np.isfinite(num).all() and np.isfinite(den).all()) or den.sum() == 0:
        raise ValueError("numerator and denominator must be finite, the denominator non-zero")
    index, k = _cluster_index(clusters)
    sums = np.bincount(index, weights=num, minlength=k)
    weights = np.bincount(index, weights=den, minlength=k)
    value = float(sums.sum() / weights.sum())
    if k < 2:
        return Estimate(value, (value, value), len(num), "single cluster: no interval")

    def ratio(chosen: np.ndarray, axis: int = -1) -> np.ndarray:
        total = weights[chosen].sum(axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = sums[chosen].sum(axis=axis) / total
        # A resample whose denominator sums to zero has no ratio: count it as no effect.
        return np.where(total == 0, 0.0, out)

    ci = _bootstrap((np.arange(k),), ratio, seed, n_resamples, paired=False)
    return Estimate(value, ci, len(num), f"cluster-bootstrap percentile ratio ({k} layouts)")


def effective_n(flags: Sequence[bool] | np.ndarray, clusters: Sequence[object]) -> float:
    """The effective sample size of clustered 0/1 trials (Kish): ``n / design effect``.

    The design effect is the variance of the rate estimated from cluster totals over the
    binomial variance, in closed form; it is at least 1. Where the rate is 0 or 1 the binomial
    variance vanishes and the design effect is taken as the mean cluster size (the worst case:
    trials in a layout all alike). Without repeated layouts it is ``n``.
    """
    flags = np.asarray(flags)
    if flags.ndim != 1 or flags.dtype != bool or len(flags) == 0:
        raise ValueError(f"flags must be a non-empty 1-d boolean array, got {flags.shape}")
    index, k = _cluster_index(clusters)
    n, p = len(flags), float(flags.mean())
    sizes = np.bincount(index, minlength=k).astype(np.float64)
    if k == n:
        return float(n)
    if 0.0 < p < 1.0 and k > 1:
        hits = np.bincount(index, weights=flags.astype(np.float64), minlength=k)
        var_clustered = k / (k - 1) * ((hits - p * sizes) ** 2).sum() / n**2
        return n / max(1.0, var_clustered / (p * (1 - p) / n))
    return n / float(sizes.mean())


def clustered_rate(flags: Sequence[bool] | np.ndarray, clusters: Sequence[object]) -> Estimate:
    """The fraction of true ``(n,)`` flags with a 95% Wilson interval at the effective sample
    size :func:`effective_n` of trials clustered by layout (the plain Wilson interval when no
    layout repeats)."""
    flags = np.asarray(flags)
    n_eff = effective_n(flags, clusters)
    n, p = len(flags), float(flags.mean())
    z = float(norm.ppf(0.975))
    centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z / (1 + z * z / n_eff) * np.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff**2))
    ci = (float(max(0.0, centre - half)), float(min(1.0, centre + half)))
    method = "wilson" if n_eff == n else f"wilson at effective n {n_eff:.1f}"
    return Estimate(p, ci, n, method)


def interquartile_mean(
    values: Sequence[float] | np.ndarray, seed: int, n_resamples: int = N_RESAMPLES
) -> Estimate:
    """The interquartile mean of ``(n,)`` per-training-seed scores with a 95% percentile-
    bootstrap interval over seeds -- rliable's aggregate (Agarwal et al. 2021), via scipy.

    With fewer than two seeds there is nothing to resample: the interval is the point.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0 or not np.isfinite(array).all():
        raise ValueError(f"values must be a non-empty finite 1-d array, got {array.shape}")
    value = float(trim_mean(array, 0.25))
    if len(array) < 2 or np.all(array == array[0]):
        return Estimate(value, (value, value), len(array), "interquartile mean (no interval)")

    def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return trim_mean(x, 0.25, axis=axis)

    ci = _bootstrap((array,), iqm, seed, n_resamples, paired=False)
    return Estimate(value, ci, len(array), "bootstrap-percentile interquartile mean")


HIERARCHICAL_RESAMPLES = 4000
"""Resamples of :func:`hierarchical_iqm`. Each one redraws every seed's levels, so it costs
about as many resamples of level sums as there are seeds; 4000 keep the report's ~100 recipe
rows within seconds, and the percentile ends then move by well under 0.01 between seeds."""


def _level_resamples(
    numerator: np.ndarray, denominator: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """``(draws,)`` ratios of sums over levels resampled with replacement (a resample whose
    denominator sums to zero has no ratio: counted as no effect, as in
    :func:`clustered_ratio`)."""
    out = np.empty(draws)
    step = max(1, _BOOTSTRAP_CELLS // (4 * len(numerator)))
    for start in range(0, draws, step):
        chosen = rng.integers(0, len(numerator), size=(min(step, draws - start), len(numerator)))
        top, bottom = numerator[chosen].sum(axis=1), denominator[chosen].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + len(chosen)] = np.where(bottom == 0, 0.0, top / bottom)
    return out


def hierarchical_iqm(
    seeds: Sequence[tuple[Sequence[float], Sequence[float]]],
    seed: int,
    n_resamples: int = HIERARCHICAL_RESAMPLES,
) -> Estimate:
    """The interquartile mean over training seeds of a per-seed ratio of sums over levels,
    with a 95% two-stage (hierarchical) percentile-bootstrap interval: each resample draws
    the training seeds with replacement, then, independently for every drawn seed, its levels
    with replacement -- so the interval carries the uncertainty inside each model as well as
    the spread between them (Davison & Hinkley 1997, sec. 3.8; rliable's IQM over seeds).

    ``seeds[i] = (numerator, denominator)``: ``(levels_i,)`` per-level sums of seed ``i``, e.g.
    passes and informative units (a rate) or steered and removal passes (a share of removal).
    """
    pairs = []
    for numerator, denominator in seeds:
        num = np.asarray(numerator, dtype=np.float64)
        den = np.asarray(denominator, dtype=np.float64)
        if num.ndim != 1 or num.shape != den.shape or len(num) == 0 or den.sum() == 0:
            raise ValueError(
                "every seed needs matching non-empty 1-d per-level numerator and denominator "
                f"with a non-zero denominator; got {num.shape}, {den.shape}"
            )
        pairs.append((num, den))
    if len(pairs) < 2:
        raise ValueError(f"a hierarchical interval needs at least 2 seeds, got {len(pairs)}")
    m = len(pairs)
    values = np.array([num.sum() / den.sum() for num, den in pairs])
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, m, size=(n_resamples, m))
    # Every (resample, slot) gets its own level resample of the seed drawn there.
    pools = np.stack([_level_resamples(num, den, n_resamples * m, rng) for num, den in pairs])
    scores = pools[drawn, np.arange(n_resamples * m).reshape(n_resamples, m)]
    iqms = trim_mean(scores, 0.25, axis=1)
    low, high = np.percentile(iqms, [2.5, 97.5])
    method = f"hierarchical bootstrap interquartile mean ({m} seeds, levels within each)"
    return Estimate(float(trim_mean(values, 0.25)), (float(low), float(high)), m, method)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def one_sided_p(rate: float, n_eff: float, threshold: float) -> tuple[float, float]:
    """p-values of "the rate is at least ``threshold``" failing (H0: below) and "the rate is
    below it" (H0: at least), from exact binomial tests at the effective sample size."""
    trials = max(1, int(round(n_eff)))
    hits = int(round(rate * trials))
    above = binomtest(hits, trials, threshold, alternative="greater").pvalue
    below = binomtest(hits, trials, threshold, alternative="less").pvalue
    return float(above), float(below)


# -- paired tests -----------------------------------------------------------------------------


def wilcoxon_signed_rank(
    before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray
) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of ``after - before`` (zero differences dropped).

    When every pair is unchanged there is no evidence of an effect: ``p_value`` is 1.
    """
    b, a = _values(before, "before"), _values(after, "after")
    if b.shape != a.shape:
        raise ValueError(f"before and after must pair up; got {b.shape} and {a.shape}")
    informative = int(np.count_nonzero(a - b))
    if informative == 0:
        return PairedTest(0.0, 1.0, 0, "wilcoxon signed-rank")
    result = wilcoxon(a, b)
    return PairedTest(
        float(result.statistic), float(result.pvalue), informative, "wilcoxon signed-rank"
    )


def mcnemar_exact(
    before: Sequence[bool] | np.ndarray, after: Sequence[bool] | np.ndarray
) -> PairedTest:
    """Exact McNemar test for paired binary outcomes (e.g. key picked up, unpatched/patched).

    Only discordant pairs carry information: under no effect, "true before, false after" and
    "false before, true after" are equally likely, so their split is Binomial(n, 1/2).
    """
    b, a = np.asarray(before), np.asarray(after)
    if b.dtype != bool or a.dtype != bool or b.ndim != 1 or b.shape != a.shape:
        raise ValueError(
            f"before and after must be 1-d boolean arrays of one length; got "
            f"{b.dtype} {b.shape} and {a.dtype} {a.shape}"
        )
    lost, gained = int((b & ~a).sum()), int((~b & a).sum())
    n = lost + gained
    if n == 0:
        return PairedTest(0.0, 1.0, 0, "mcnemar exact")
    return PairedTest(
        float(min(lost, gained)), float(binomtest(lost, n).pvalue), n, "mcnemar exact"
    )


# -- verdicts ---------------------------------------------------------------------------------


def verdict(ci95: tuple[float, float], threshold: float, *, at_most: bool = False) -> Verdict:
    """Three-way verdict of "the quantity is at least ``threshold``" from its 95% interval.

    ``"holds"`` if the lower end is at least ``threshold``, ``"fails"`` if the upper end is
    below it, else ``"inconclusive"``. With ``at_most=True`` the claim is "at most
    ``threshold``" (e.g. "adding the vector changes behaviour by at most 0.05"): it holds if
    the upper end is at most ``threshold`` and fails if the lower end is above it.
    """
    low, high = (float(v) for v in ci95)
    if not low <= high:
        raise ValueError(f"ci95 must be (lower, upper) with lower <= upper, got {ci95}")
    if at_most:
        return "holds" if high <= threshold else "fails" if low > threshold else "inconclusive"
    return "holds" if low >= threshold else "fails" if high < threshold else "inconclusive"


__all__ = [
    "N_RESAMPLES",
    "Estimate",
    "PairedTest",
    "Verdict",
    "bootstrap_mean",
    "bootstrap_median",
    "bootstrap_paired_difference",
    "clopper_pearson",
    "clustered_rate",
    "effective_n",
    "clustered_ratio",
    "HIERARCHICAL_RESAMPLES",
    "hierarchical_iqm",
    "holm",
    "interquartile_mean",
    "one_sided_p",
    "mcnemar_exact",
    "proportion",
    "verdict",
    "wilcoxon_signed_rank",
    "wilson",
]
