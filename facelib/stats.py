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

**Faces are not independent: identities are resampled.** The synthetic test faces come several to
an identity (8 in the cpu profile: one person under different poses, lights, occluders and noise).
Faces of one person share that person's difficulty, so resampling faces one by one treats 200
faces as 200 independent draws when there are 25 people, and gives intervals too narrow for
anything that depends on the person (by up to √8). Given ``groups`` (one identity label per face),
every function here runs a **cluster bootstrap** (Davison & Hinkley 1997, Sec. 3.8): it resamples
identities with replacement and takes all their faces, and the statistic is the mean over the
faces drawn. The interval then records how many identities it resampled (``clusters``), and a
verdict needs :data:`MIN_FACES` of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import FacelibError

LEVEL = 0.95
RESAMPLES = 10_000
HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"
#: fewer faces (identities, in a cluster bootstrap) than this decide nothing: a bootstrap over 1-4
#: units has at most 4^4 distinct resamples, and over one a zero-width interval that would "decide"
#: anything
MIN_FACES = 5


def bracket(low: float, high: float, spec: str = "+.1f") -> str:
    """An interval's bounds as prose quotes them after the estimate: ``"[-21.6, -15.3]"``."""
    return f"[{low:{spec}}, {high:{spec}}]"


@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap interval: ``estimate`` on the data as measured, ``[low,
    high]`` at ``level``, from ``n`` faces; ``clusters`` identities were resampled (0: the faces
    were, one by one)."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL
    clusters: int = 0
    #: the comparison that made it, where a :mod:`facelib.evaluation.tables` function did:
    #: ``{"kind", "a": [method, section, view], "b": [...], "metric"}``, the rows of the metrics it was
    #: given (chapter 10 finds them in the chapters' stored results for the share of room)
    recipe: dict | None = field(default=None, compare=False, hash=False)

    @property
    def units(self) -> int:
        """How many independent units the bootstrap resampled: identities, or else faces."""
        return self.clusters or self.n

    def over(self) -> str:
        """``"200 faces of 25 identities"`` (or ``"200 faces"``): what the interval resampled."""
        return f"{self.n} faces" + (f" of {self.clusters} identities" if self.clusters else "")

    def __str__(self) -> str:
        return f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}]"

    def format(self, spec: str = ".2f", unit: str = "") -> str:
        """``"8.79 [8.52, 9.07] px"`` with the given format spec and unit."""
        u = f" {unit}" if unit else ""
        return f"{self.estimate:{spec}}{u} {self.bracket(spec)}"

    def bracket(self, spec: str = "+.1f", unit: str = "") -> str:
        """The interval alone, as prose quotes it after its estimate: ``"[-21.6, -15.3]"``, then ``unit``."""
        return bracket(self.low, self.high, spec) + unit

    def as_dict(self) -> dict:
        d = asdict(self)
        if d["recipe"] is None:
            del d["recipe"]
        return d


def _values(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).ravel()
    if v.size == 0:
        raise FacelibError(f"{name}: no values to bootstrap")
    return v


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _groups(groups, n: int, name: str) -> np.ndarray | None:
    """One label per value as an array, checked (``None``: faces are resampled one by one)."""
    if groups is None:
        return None
    g = np.asarray(groups).ravel()
    if g.size != n:
        raise FacelibError(f"{name}: {g.size} identity labels for {n} values; give one per face")
    return g


def _identity_sums(columns: list[np.ndarray], groups: np.ndarray, resamples: int,
                   seed: int) -> tuple[list[np.ndarray], np.ndarray, int]:
    """The cluster bootstrap's resamples: identities drawn with replacement (:func:`_indices` over
    the identities), each bringing all its faces. Returns each column's sum over the faces of every
    resample ``(resamples,)``, the number of faces in each ``(resamples,)``, and the number of
    identities."""
    _, label = np.unique(groups, return_inverse=True)
    k = int(label.max()) + 1
    idx = _indices(k, resamples, seed)
    counts = np.bincount(label, minlength=k).astype(np.float64)
    return [np.bincount(label, weights=c, minlength=k)[idx].sum(1) for c in columns], counts[idx].sum(1), k


def _interval(estimate: float, samples: np.ndarray, n: int, level: float, clusters: int = 0) -> Interval:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return Interval(float(estimate), float("nan"), float("nan"), n, level, clusters)
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(estimate), float(lo), float(hi), n, level, clusters)


def _paired(a, b, name: str, groups=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    a, b = _values(a, f"{name} (first)"), _values(b, f"{name} (second)")
    if a.shape != b.shape:
        raise FacelibError(f"{name}: paired values need the same faces ({a.size} vs {b.size} values)")
    g = _groups(groups, a.size, name)
    keep = np.isfinite(a) & np.isfinite(b)  # a face counts only where both have a value
    return a[keep], b[keep], None if g is None else g[keep]


NO_DATA = Interval(float("nan"), float("nan"), float("nan"), 0)  # verdict: undecided


def mean_interval(values, *, groups=None, level: float = LEVEL, resamples: int = RESAMPLES,
                  seed: int = 0) -> Interval:
    """The mean of per-face ``values`` with its bootstrap interval (NaN values are dropped;
    :data:`NO_DATA` when none is left); ``groups``: one identity label per value, to resample
    identities (see the module's docstring)."""
    v = _values(values, "mean_interval")
    g = _groups(groups, v.size, "mean_interval")
    keep = np.isfinite(v)
    v, g = v[keep], None if g is None else g[keep]
    if v.size == 0:
        return NO_DATA
    if g is None:
        return _interval(v.mean(), v[_indices(v.size, resamples, seed)].mean(1), v.size, level)
    (sums,), counts, k = _identity_sums([v], g, resamples, seed)
    return _interval(v.mean(), sums / counts, v.size, level, k)


def paired_difference(a, b, *, groups=None, level: float = LEVEL, resamples: int = RESAMPLES,
                      seed: int = 0) -> Interval:
    """``mean(a) − mean(b)`` over the same faces (``a[i]`` and ``b[i]`` measure face ``i``), with
    its paired bootstrap interval; ``groups``: one identity label per face, to resample identities."""
    a, b, g = _paired(a, b, "paired_difference", groups)
    if a.size == 0:
        return NO_DATA
    if g is None:
        idx = _indices(a.size, resamples, seed)
        return _interval(a.mean() - b.mean(), a[idx].mean(1) - b[idx].mean(1), a.size, level)
    (sa, sb), counts, k = _identity_sums([a, b], g, resamples, seed)
    return _interval(a.mean() - b.mean(), (sa - sb) / counts, a.size, level, k)


def paired_change(a, b, *, groups=None, level: float = LEVEL, resamples: int = RESAMPLES,
                  seed: int = 0) -> Interval:
    """The relative change of ``a`` against ``b`` in per cent, ``100 (mean(a) / mean(b) − 1)``,
    over the same faces, with its paired bootstrap interval (+ = ``a`` is larger); ``groups``: one
    identity label per face, to resample identities."""
    a, b, g = _paired(a, b, "paired_change", groups)
    if a.size == 0:
        return NO_DATA
    if g is None:
        idx = _indices(a.size, resamples, seed)
        sa, sb, k = a[idx].mean(1), b[idx].mean(1), 0
    else:
        (sa, sb), _, k = _identity_sums([a, b], g, resamples, seed)  # a ratio of sums = of means
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = 100.0 * (sa / sb - 1.0)
    return _interval(100.0 * (a.mean() / b.mean() - 1.0), samples, a.size, level, k)


def verdict(interval: Interval, threshold: float = 0.0, claim: str = "below") -> str:
    """:data:`HOLDS`, :data:`FAILS` or :data:`UNDECIDED` for the claim that the statistic is
    ``claim`` (``"below"`` or ``"above"``) ``threshold``, decided by the whole interval
    (:data:`UNDECIDED` from fewer than :data:`MIN_FACES` faces, or identities where the bootstrap
    resampled identities)."""
    if claim not in ("below", "above"):
        raise FacelibError(f"claim must be 'below' or 'above', got {claim!r}")
    lo, hi = interval.low, interval.high
    if not (np.isfinite(lo) and np.isfinite(hi)) or interval.units < MIN_FACES:
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
                f"[{iv.low:+{spec}}, {iv.high:+{spec}}], {int(iv.level * 100)} % interval over {iv.over()})")

    def as_dict(self) -> dict:
        return {**asdict(self), "interval": self.interval.as_dict()}


def decide(text: str, interval: Interval, threshold: float = 0.0, claim: str = "below", unit: str = "") -> Claim:
    """A :class:`Claim` whose verdict is computed from ``interval`` (see :func:`verdict`)."""
    return Claim(text, interval, threshold, claim, verdict(interval, threshold, claim), unit)
