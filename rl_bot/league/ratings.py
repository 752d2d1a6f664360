"""Ratings with uncertainty: a maximum-a-posteriori Bradley-Terry fit on the Elo scale (pure: numpy + scipy).

Model. Player ``a`` scores against ``b`` with expectation ``E = 1 / (1 + 10 ** ((R_b - R_a) / 400))``; a game's
score is 1, ½ or 0, and a group of ``n`` games with total score ``s`` contributes ``s log E + (n - s) log(1 - E)``
to the log-likelihood (a draw counts as half a win and half a loss, as in Elo). Gaussian priors can tie a player
to a value or to another player (``R_a - R_b ~ N(mu, sd²)``); some players can be held fixed (the anchors of the
scale). :func:`fit_ratings` maximises the log-posterior with Newton's method on a sparse Hessian (it is concave, so
the maximum is unique once every free player is tied to a fixed one through games or priors) and reports each
player's 95 % interval from the curvature at the maximum (the Laplace approximation).

:func:`fit_league` is the league's use of it, in the spirit of Coulom's Whole-History Rating: ``main`` changes
as it trains, so it is one player per iteration (``main@t``) with a random-walk prior between consecutive iterations;
a snapshot is a frozen copy of main, one constant player tied to main at the iteration it was taken; the built-in
opponents are fixed at their calibrated ratings. Every rated game so far takes part in every fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: Elo scale: ratings differ by 400 when the expected score is 10:1.
SCALE = math.log(10.0) / 400.0
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Result:
    """``games`` games of ``a`` against ``b`` in which ``a`` scored ``score`` (wins + draws / 2)."""

    a: str
    b: str
    games: float
    score: float


@dataclass(frozen=True)
class Prior:
    """``R_player - R_other ~ N(mean, sd²)``, or ``R_player ~ N(mean, sd²)`` when ``other`` is None."""

    player: str
    mean: float
    sd: float
    other: str | None = None


@dataclass(frozen=True)
class RatingFit:
    """Fitted ratings and their standard deviations (0 for fixed players)."""

    ratings: dict[str, float]
    std: dict[str, float]
    iterations: int

    def interval(self, player: str, z: float = Z95) -> tuple[float, float]:
        """The 95 % interval of a player's rating (a point for a fixed player)."""
        r, s = self.ratings[player], self.std[player]
        return r - z * s, r + z * s


def fit_ratings(
    results: Iterable[Result],
    fixed: Mapping[str, float],
    priors: Iterable[Prior] = (),
    init: Mapping[str, float] | None = None,
    std_for: Iterable[str] | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
) -> RatingFit:
    """MAP ratings of every player that appears in ``results`` or ``priors`` and is not in ``fixed``.

    ``std_for`` limits the (costlier) standard deviations to those players (default: all free players).
    Raises ``ValueError`` if a free player is tied to no fixed player (its rating would be undetermined).
    """
    from scipy import sparse
    from scipy.sparse.linalg import splu

    results = [r for r in results if r.games > 0]
    priors = list(priors)
    names: list[str] = []
    index: dict[str, int] = {}

    def idx(p: str) -> int:
        if p in fixed:
            return -1
        if p not in index:
            index[p] = len(names)
            names.append(p)
        return index[p]

    ra = np.array([idx(r.a) for r in results], dtype=np.int64)
    rb = np.array([idx(r.b) for r in results], dtype=np.int64)
    fa = np.array([fixed.get(r.a, 0.0) for r in results])
    fb = np.array([fixed.get(r.b, 0.0) for r in results])
    n = np.array([r.games for r in results], dtype=float)
    s = np.array([r.score for r in results], dtype=float)
    if np.any((s < 0) | (s > n)):
        raise ValueError("every result needs 0 <= score <= games")
    pa = np.array([idx(p.player) for p in priors], dtype=np.int64)
    pb = np.array([idx(p.other) if p.other is not None else -1 for p in priors], dtype=np.int64)
    pf = np.array([fixed.get(p.other, 0.0) if p.other is not None else 0.0 for p in priors])
    pmean = np.array([p.mean for p in priors], dtype=float)
    pprec = np.array([1.0 / p.sd**2 for p in priors], dtype=float)
    if np.any(pa < 0):
        raise ValueError("a prior cannot be placed on a fixed player")
    m = len(names)
    if m == 0:
        return RatingFit(dict(fixed), {p: 0.0 for p in fixed}, 0)
    _check_connected(m, ra, rb, pa, pb, names)

    x = np.array([(init or {}).get(p, _start(p, fixed)) for p in names], dtype=float)
    done = 0
    for done in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        grad, hess = _grad_hess(x, m, ra, rb, fa, fb, n, s, pa, pb, pf, pmean, pprec, sparse)
        step = splu(hess).solve(grad)
        # Damped Newton: a step of more than 400 Elo at once only happens far from the optimum.
        big = np.abs(step).max()
        if big > 400.0:
            step *= 400.0 / big
        x += step
        if np.abs(step).max() < tol:
            break
    _, hess = _grad_hess(x, m, ra, rb, fa, fb, n, s, pa, pb, pf, pmean, pprec, sparse)
    want = [index[p] for p in (std_for if std_for is not None else names) if p in index]
    std = {p: 0.0 for p in fixed}
    if want:
        lu = splu(hess)
        unit = np.zeros((m, len(want)))
        unit[want, np.arange(len(want))] = 1.0
        cov_cols = lu.solve(unit)
        for k, i in enumerate(want):
            std[names[i]] = float(math.sqrt(max(cov_cols[i, k], 0.0)))
    ratings = dict(fixed)
    ratings.update({p: float(v) for p, v in zip(names, x, strict=True)})
    return RatingFit(ratings, std, done)


def _start(player: str, fixed: Mapping[str, float]) -> float:
    return float(np.mean(list(fixed.values()))) if fixed else 1500.0


def _grad_hess(x, m, ra, rb, fa, fb, n, s, pa, pb, pf, pmean, pprec, sparse):
    """Gradient of the log-posterior and the negative Hessian (positive definite) as a sparse matrix."""
    xa = np.where(ra >= 0, x[np.maximum(ra, 0)], fa)
    xb = np.where(rb >= 0, x[np.maximum(rb, 0)], fb)
    e = 1.0 / (1.0 + np.exp(-SCALE * (xa - xb)))
    g_game = SCALE * (s - n * e)  # d logL / d R_a
    w_game = SCALE**2 * n * e * (1.0 - e)
    grad = np.zeros(m)
    np.add.at(grad, ra[ra >= 0], g_game[ra >= 0])
    np.add.at(grad, rb[rb >= 0], -g_game[rb >= 0])
    xpb = np.where(pb >= 0, x[np.maximum(pb, 0)], pf)
    resid = (x[pa] - xpb) - pmean
    g_prior = -pprec * resid
    np.add.at(grad, pa, g_prior)
    tied = pb >= 0
    np.add.at(grad, pb[tied], -g_prior[tied])
    rows, cols, vals = [], [], []

    def pair(i, j, w):
        both = (i >= 0) & (j >= 0)
        for a_, b_, sign in ((i, i, 1.0), (j, j, 1.0), (i, j, -1.0), (j, i, -1.0)):
            keep = both if sign < 0 else (a_ >= 0)
            rows.append(a_[keep])
            cols.append(b_[keep])
            vals.append(sign * w[keep])

    pair(ra, rb, w_game)
    pair(pa, pb, pprec)
    hess = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, m))
    # A tiny ridge keeps the factorisation stable when a player's games are all one-sided.
    hess = hess + sparse.identity(m, format="csc") * 1e-9
    return grad, hess


def _check_connected(m, ra, rb, pa, pb, names) -> None:
    """Every free player must reach a fixed player (index -1) or an absolute prior through games or priors."""
    parent = list(range(m + 1))  # m = the "fixed" super-node

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    for i, j in list(zip(ra.tolist(), rb.tolist(), strict=True)) + list(zip(pa.tolist(), pb.tolist(), strict=True)):
        union(m if i < 0 else i, m if j < 0 else j)
    loose = [names[i] for i in range(m) if find(i) != find(m)]
    if loose:
        raise ValueError(
            f"ratings of {loose[:5]} are undetermined: they have no games or priors linking them to a fixed player"
        )


# ------------------------------------------------------------------------------------------------ the league


MAIN_PREFIX = "main@"


def main_player(iteration: int) -> str:
    """The rating-model player of main during ``iteration``."""
    return f"{MAIN_PREFIX}{iteration}"


def fit_league(
    counts: Iterable[tuple[int, str, float, float]],
    snapshots: Mapping[str, int],
    anchors: Mapping[str, float],
    iterations: int,
    initial_rating: float,
    drift: float,
    initial_sd: float = 350.0,
    init: Mapping[str, float] | None = None,
    std_for: Iterable[str] | None = None,
) -> RatingFit:
    """Fit main's rating trajectory and the snapshots' ratings from every rated game so far.

    - ``counts``: ``(iteration, opponent, games, main's score)`` groups of rated games;
    - ``snapshots``: snapshot id → the iteration it was taken after (it is tied to ``main@t`` with ``drift``);
    - ``anchors``: the built-in opponents' fixed ratings;
    - ``main@1 ~ N(initial_rating, initial_sd²)``, ``main@t - main@(t-1) ~ N(0, drift²)``.
    """
    iterations = max(1, int(iterations))
    results = [Result(main_player(max(1, min(t, iterations))), opp, g, sc) for t, opp, g, sc in counts]
    priors = [Prior(main_player(1), initial_rating, initial_sd)]
    priors += [Prior(main_player(t), 0.0, drift, main_player(t - 1)) for t in range(2, iterations + 1)]
    priors += [Prior(sid, 0.0, drift, main_player(max(1, min(t, iterations)))) for sid, t in snapshots.items()]
    return fit_ratings(results, anchors, priors, init=init, std_for=std_for)
