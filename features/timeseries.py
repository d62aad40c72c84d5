"""Vectorised per-run time-series primitives on long, sorted samples.

Every function takes the samples of *all* runs at once as flat arrays sorted by run then
time: ``run`` (integer code 0..n_runs-1), ``t`` (day) and ``v`` (value, no NaN), and returns
one value per run. Nothing loops over runs in Python, so 10,000 runs take milliseconds.
Interpolation is in *time*, never by row index, so irregular sampling (every 10 h, daily,
weekdays only) gives nearly the same answer for the same underlying curve.

>>> run = np.array([0, 0, 0, 1]); t = np.array([0.0, 1.0, 3.0, 0.0])
>>> v = np.array([1.0, 2.0, 4.0, 5.0])
>>> value_at(run, t, v, 2, 2.0, max_gap_day=1.0).tolist()
[3.0, nan]
>>> integral(run, t, v, 2, 0.0, 3.0, max_gap_day=1.0).tolist()
[7.5, nan]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_KEY_SCALE = 1e5  # days are < 1e5, so run * scale + day orders by run, then time


def _keys(run: np.ndarray, t: np.ndarray) -> np.ndarray:
    return run * _KEY_SCALE + t


def last_index(run: np.ndarray, n_runs: int) -> np.ndarray:
    """Row index of each run's last sample (-1 where the run has none)."""
    out = np.full(n_runs, -1, dtype=np.int64)
    if run.size:
        ends = np.flatnonzero(np.r_[run[1:] != run[:-1], True])
        out[run[ends]] = ends
    return out


def first_index(run: np.ndarray, n_runs: int) -> np.ndarray:
    """Row index of each run's first sample (-1 where the run has none)."""
    out = np.full(n_runs, -1, dtype=np.int64)
    if run.size:
        starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
        out[run[starts]] = starts
    return out


def value_at(
    run: np.ndarray,
    t: np.ndarray,
    v: np.ndarray,
    n_runs: int,
    day: float,
    max_gap_day: float,
    slopes: np.ndarray | None = None,
) -> np.ndarray:
    """Value of each run's curve at ``day``.

    Monotone cubic (PCHIP) interpolation between the samples around ``day``: exact at
    the samples, no overshoot, and closer than straight lines to a growth curve across a
    weekend gap. Past the last sample the
    last segment is extended (the last value if there is only one sample), but only over
    ``max_gap_day``; before the first sample the first value is used over the same gap.
    Further out the value is unknown (NaN). ``slopes`` (from :func:`knot_slopes`) may be
    passed to save recomputing them for several days of the same curve.
    """
    return values_at(run, t, v, n_runs, [day], max_gap_day, slopes)[0]


def values_at(
    run: np.ndarray,
    t: np.ndarray,
    v: np.ndarray,
    n_runs: int,
    days: Sequence[float],
    max_gap_day: float,
    slopes: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`value_at` for several days in one pass: shape ``(len(days), n_runs)``.

    Every (day, run) pair is one query, so the numpy calls are paid once for all days;
    each query's arithmetic is exactly :func:`value_at`'s.

    >>> run = np.array([0, 0, 0, 1]); t = np.array([0.0, 1.0, 3.0, 0.0])
    >>> values_at(run, t, np.array([1.0, 2.0, 4.0, 5.0]), 2, [0.0, 2.0], 1.0).tolist()
    [[1.0, 5.0], [3.0, nan]]
    """
    k = len(days)
    out = np.full(k * n_runs, np.nan)
    if run.size == 0 or k == 0:
        return out.reshape(k, n_runs)
    runs = np.tile(np.arange(n_runs), k)
    day = np.repeat(np.asarray(days, dtype=float), n_runs)
    n = run.size
    right = np.searchsorted(_keys(run, t), _keys(runs, day), side="right")
    left = right - 1
    li, ri = np.maximum(left, 0), np.minimum(right, n - 1)
    has_left = (left >= 0) & (run[li] == runs)
    has_right = (right < n) & (run[ri] == runs)

    both = has_left & has_right
    d = knot_slopes(run, t, v) if slopes is None else slopes
    out[both] = _hermite(t[li], v[li], d[li], t[ri], v[ri], d[ri], day)[both]

    tail = has_left & ~has_right & (day - t[li] <= max_gap_day)
    prev = np.maximum(li - 1, 0)
    has_prev = (li - 1 >= 0) & (run[prev] == runs)
    seg = t[li] - t[prev]
    slope = np.divide(v[li] - v[prev], seg, out=np.zeros(runs.size), where=has_prev & (seg > 0))
    out[tail] = (v[li] + slope * (day - t[li]))[tail]

    head = ~has_left & has_right & (t[ri] - day <= max_gap_day)
    out[head] = v[ri][head]
    return out.reshape(k, n_runs)


def knot_slopes(run: np.ndarray, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Monotone (Fritsch-Carlson) derivative at each knot of each run's curve.

    Interior knots take the weighted harmonic mean of the two neighbouring secants (zero
    at a local extremum, so the curve never overshoots its samples); end knots take the
    secant of their only segment.
    """
    n = run.size
    d = np.zeros(n)
    if n < 2:
        return d
    same = _segments(run)
    h = np.diff(t)
    sec = np.divide(np.diff(v), h, out=np.zeros(n - 1), where=same & (h > 0))
    left_ok = np.r_[False, same]  # knot i has a segment i-1 -> i in its run
    right_ok = np.r_[same, False]
    sec_l, sec_r = np.r_[0.0, sec], np.r_[sec, 0.0]
    h_l, h_r = np.r_[0.0, h], np.r_[h, 0.0]
    w1, w2 = 2 * h_r + h_l, h_r + 2 * h_l
    interior = left_ok & right_ok & (sec_l * sec_r > 0)
    # a secant near zero (even subnormal) sends its reciprocal to inf: the mean goes to 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hm = (w1 + w2) / (w1 / sec_l + w2 / sec_r)
    d = np.where(interior, hm, 0.0)
    d = np.where(left_ok & ~right_ok, sec_l, d)
    d = np.where(right_ok & ~left_ok, sec_r, d)
    return d


def _hermite(t0, v0, d0, t1, v1, d1, x):
    """Cubic Hermite value between knots (t0, v0, slope d0) and (t1, v1, slope d1)."""
    h = t1 - t0
    s = np.divide(x - t0, h, out=np.zeros_like(x, dtype=float), where=h > 0)
    s2, s3 = s * s, s * s * s
    return (
        (2 * s3 - 3 * s2 + 1) * v0
        + (s3 - 2 * s2 + s) * h * d0
        + (-2 * s3 + 3 * s2) * v1
        + (s3 - s2) * h * d1
    )


def _segments(run: np.ndarray) -> np.ndarray:
    """Mask of rows i whose next row i+1 belongs to the same run."""
    return run[1:] == run[:-1]


def integral(
    run: np.ndarray,
    t: np.ndarray,
    v: np.ndarray,
    n_runs: int,
    start_day: float,
    end_day: float,
    max_gap_day: float,
    log_mean: bool = False,
    slopes: np.ndarray | None = None,
) -> np.ndarray:
    """Area under each run's curve from ``start_day`` to ``end_day`` (value x day).

    ``log_mean=True`` integrates each segment as an exponential (the logarithmic mean of
    its end values), exact for cells growing or dying at a constant rate; it is the right
    rule for viable cell density (IVCD). NaN when the curve is unknown at either end.
    ``slopes`` as in :func:`value_at`.
    """
    keep = (t >= start_day) & (t <= end_day)
    r, tt, vv = run[keep], t[keep], v[keep]
    lo, hi = values_at(run, t, v, n_runs, [start_day, end_day], max_gap_day, slopes)
    # add the end points as knots, then integrate segment by segment
    r2 = np.concatenate([r, np.arange(n_runs), np.arange(n_runs)])
    t2 = np.concatenate([tt, np.full(n_runs, start_day), np.full(n_runs, end_day)])
    v2 = np.concatenate([vv, lo, hi])
    order = np.lexsort((t2, r2))
    r2, t2, v2 = r2[order], t2[order], v2[order]
    same = _segments(r2)
    h = np.diff(t2)
    a, b = v2[:-1], v2[1:]
    area = segment_area(a, b, h, log_mean)
    area = np.where(same, area, 0.0)
    total = np.bincount(r2[:-1], weights=np.nan_to_num(area), minlength=n_runs)
    unknown = np.isnan(lo) | np.isnan(hi)
    return np.where(unknown, np.nan, total)


def segment_area(a: np.ndarray, b: np.ndarray, h: np.ndarray, log_mean: bool) -> np.ndarray:
    """Area of segments of width ``h`` between values ``a`` and ``b``."""
    if not log_mean:
        return 0.5 * (a + b) * h
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(b / a)
        lm = (b - a) / ratio
    ok = (a > 0) & (b > 0) & (np.abs(b - a) > 1e-12 * np.maximum(a, b))
    return np.where(ok, lm, 0.5 * (a + b)) * h


def cumulative_integral(
    run: np.ndarray, t: np.ndarray, v: np.ndarray, log_mean: bool = False
) -> np.ndarray:
    """Integral of each run's curve from its first sample up to every sample."""
    if run.size == 0:
        return np.zeros(0)
    area = segment_area(v[:-1], v[1:], np.diff(t), log_mean)
    area = np.where(_segments(run), area, 0.0)
    cum = np.concatenate([[0.0], np.cumsum(area)])
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    offset = np.repeat(cum[starts], np.diff(np.r_[starts, run.size]))
    return cum - offset


def regression_slope(run: np.ndarray, x: np.ndarray, y: np.ndarray, n_runs: int) -> np.ndarray:
    """Least-squares slope of y on x per run (NaN with fewer than 2 distinct x)."""
    w = np.bincount(run, minlength=n_runs).astype(float)
    sx = np.bincount(run, weights=x, minlength=n_runs)
    sy = np.bincount(run, weights=y, minlength=n_runs)
    sxx = np.bincount(run, weights=x * x, minlength=n_runs)
    sxy = np.bincount(run, weights=x * y, minlength=n_runs)
    den = w * sxx - sx * sx
    ok = (w >= 2) & (den > 1e-12 * np.maximum(w * sxx, 1e-300))
    return np.where(ok, (w * sxy - sx * sy) / np.where(ok, den, 1.0), np.nan)


def run_max(run: np.ndarray, v: np.ndarray, n_runs: int) -> np.ndarray:
    out = np.full(n_runs, -np.inf)
    np.maximum.at(out, run, v)
    return np.where(np.isinf(out), np.nan, out)


def run_min(run: np.ndarray, v: np.ndarray, n_runs: int) -> np.ndarray:
    out = np.full(n_runs, np.inf)
    np.minimum.at(out, run, v)
    return np.where(np.isinf(out), np.nan, out)


def interp_points(
    run: np.ndarray, t: np.ndarray, v: np.ndarray, run_q: np.ndarray, t_q: np.ndarray
) -> np.ndarray:
    """Each run's curve (knots ``run, t, v``) read at query points ``(run_q, t_q)``.

    Linear within the run's sampled span; NaN outside it or for a run without knots.
    """
    out = np.full(run_q.size, np.nan)
    if run.size == 0 or run_q.size == 0:
        return out
    keys, q = _keys(run, t), _keys(run_q, t_q)
    n = run.size
    right = np.searchsorted(keys, q, side="left")
    ri = np.clip(right, 0, n - 1)
    li = np.clip(right - 1, 0, n - 1)
    exact = (right < n) & (keys[ri] == q)
    out[exact] = v[ri][exact]
    inner = ~exact & (right > 0) & (right < n) & (run[li] == run_q) & (run[ri] == run_q)
    span = t[ri] - t[li]
    frac = np.divide(t_q - t[li], span, out=np.zeros(run_q.size), where=span > 0)
    out[inner] = (v[li] + frac * (v[ri] - v[li]))[inner]
    return out
