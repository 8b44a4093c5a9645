"""Confidence intervals and computed verdicts for every comparison the book makes.

Every number the chapters compare is a mean over test faces, and every method is evaluated on the
*same* faces under the *same* occluders and noise. So a comparison is a **paired bootstrap** over
faces: resample the face indices with replacement, recompute the statistic on both methods' values
of the resampled faces, and take the 2.5 % and 97.5 % quantiles (percentile interval; Efron &
Tibshirani 1993, ch. 13). Pairing removes the between-face variance that both methods share, so
differences far smaller than either method's spread can still be decided.

A claim is then a **verdict** computed from its interval, never written by hand:

* ``holds`` — the whole interval is on the claimed side of the threshold;
* ``does not hold`` — the whole interval is on the other side;
* ``undecided`` — the interval contains the threshold (more faces, or a larger effect, needed).

The bootstrap is seeded, so a chapter re-run on the same metrics prints the same intervals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import FacelibError

LEVEL = 0.95
RESAMPLES = 10_000
HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"
#: fewer faces than this decide nothing: a bootstrap over 1-4 faces has at most 4^4 distinct
#: resamples, and over one face a zero-width interval that would "decide" anything
MIN_FACES = 5


@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap interval: ``estimate`` on the data as measured, ``[low,
    high]`` at ``level``, from ``n`` faces."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def __str__(self) -> str:
        return f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}]"

    def format(self, spec: str = ".2f", unit: str = "") -> str:
        """``"8.79 [8.52, 9.07] px"`` with the given format spec and unit."""
        u = f" {unit}" if unit else ""
        return f"{self.estimate:{spec}}{u} [{self.low:{spec}}, {self.high:{spec}}]"

    def as_dict(self) -> dict:
        return asdict(self)


def _values(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).ravel()
    if v.size == 0:
        raise FacelibError(f"{name}: no values to bootstrap")
    return v


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _interval(estimate: float, samples: np.ndarray, n: int, level: float) -> Interval:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return Interval(float(estimate), float("nan"), float("nan"), n, level)
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(estimate), float(lo), float(hi), n, level)


def _paired(a, b, name: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = _values(a, f"{name} (first)"), _values(b, f"{name} (second)")
    if a.shape != b.shape:
        raise FacelibError(f"{name}: paired values need the same faces ({a.size} vs {b.size} values)")
    keep = np.isfinite(a) & np.isfinite(b)  # a face counts only where both have a value
    return a[keep], b[keep]


NO_DATA = Interval(float("nan"), float("nan"), float("nan"), 0)  # verdict: undecided


def mean_interval(values, *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The mean of per-face ``values`` with its bootstrap interval (NaN values are dropped;
    :data:`NO_DATA` when none is left)."""
    v = _values(values, "mean_interval")
    v = v[np.isfinite(v)]
    if v.size == 0:
        return NO_DATA
    means = v[_indices(v.size, resamples, seed)].mean(1)
    return _interval(v.mean(), means, v.size, level)


def paired_difference(a, b, *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """``mean(a) − mean(b)`` over the same faces (``a[i]`` and ``b[i]`` measure face ``i``), with
    its paired bootstrap interval."""
    a, b = _paired(a, b, "paired_difference")
    if a.size == 0:
        return NO_DATA
    idx = _indices(a.size, resamples, seed)
    return _interval(a.mean() - b.mean(), a[idx].mean(1) - b[idx].mean(1), a.size, level)


def paired_change(a, b, *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The relative change of ``a`` against ``b`` in per cent, ``100 (mean(a) / mean(b) − 1)``,
    over the same faces, with its paired bootstrap interval (+ = ``a`` is larger)."""
    a, b = _paired(a, b, "paired_change")
    if a.size == 0:
        return NO_DATA
    idx = _indices(a.size, resamples, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = 100.0 * (a[idx].mean(1) / b[idx].mean(1) - 1.0)
    return _interval(100.0 * (a.mean() / b.mean() - 1.0), samples, a.size, level)


def verdict(interval: Interval, threshold: float = 0.0, claim: str = "below") -> str:
    """:data:`HOLDS`, :data:`FAILS` or :data:`UNDECIDED` for the claim that the statistic is
    ``claim`` (``"below"`` or ``"above"``) ``threshold``, decided by the whole interval
    (:data:`UNDECIDED` from fewer than :data:`MIN_FACES` faces)."""
    if claim not in ("below", "above"):
        raise FacelibError(f"claim must be 'below' or 'above', got {claim!r}")
    lo, hi = interval.low, interval.high
    if not (np.isfinite(lo) and np.isfinite(hi)) or interval.n < MIN_FACES:
        return UNDECIDED
    if claim == "below":
        return HOLDS if hi < threshold else FAILS if lo > threshold else UNDECIDED
    return HOLDS if lo > threshold else FAILS if hi < threshold else UNDECIDED


@dataclass(frozen=True)
class Claim:
    """A sentence's comparison as data: what is claimed, the interval it rests on and the verdict."""

    text: str
    interval: Interval
    threshold: float
    claim: str
    verdict: str
    unit: str = ""

    def sentence(self, spec: str = ".1f") -> str:
        """``"SOPI's change under DHOFI is below 20 %: does not hold (+31.2 % [+27.9, +34.6])"``."""
        iv = self.interval
        return (f"{self.text}: {self.verdict} ({iv.estimate:+{spec}}{self.unit} "
                f"[{iv.low:+{spec}}, {iv.high:+{spec}}], {int(iv.level * 100)} % interval over {iv.n} faces)")

    def as_dict(self) -> dict:
        return {**asdict(self), "interval": self.interval.as_dict()}


def decide(text: str, interval: Interval, threshold: float = 0.0, claim: str = "below", unit: str = "") -> Claim:
    """A :class:`Claim` whose verdict is computed from ``interval`` (see :func:`verdict`)."""
    return Claim(text, interval, threshold, claim, verdict(interval, threshold, claim), unit)
