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
from scipy.stats import binomtest, bootstrap, wilcoxon

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
    "mcnemar_exact",
    "proportion",
    "verdict",
    "wilcoxon_signed_rank",
    "wilson",
]
