"""Fellegi–Sunter match weights, estimated from the data.

- u (how often a level occurs between two different people) from random pairs of
  roster and registry rows; for name levels that agree, the value's own frequency
  (term-frequency adjustment: a shared 王伟 is weak evidence, a rare name strong).
- m (how often a level occurs between two rows of the same person) by EM over the
  level counts of candidate pairs, Splink-style: the name's m is trained on pairs
  blocked by equal ID, the ID's m on pairs blocked by equal name pinyin, so a
  comparison is never trained on pairs its own blocking selected.
- the prior: the share of all (registry row, roster member) pairs expected to match.
The fitted parameters are stored in `link_model` with the run so that any finding's
score can be explained later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FLOOR = 1e-7  # smallest probability used, so that no weight is infinite


@dataclass
class ComparisonParams:
    m: dict[str, float]
    u: dict[str, float]
    null_levels: tuple[str, ...] = ()

    def weight(self, level: str, u_override: float | None = None) -> float:
        if level in self.null_levels:
            return 0.0
        u = u_override if u_override is not None else self.u.get(level, FLOOR)
        return math.log2(max(self.m.get(level, FLOOR), FLOOR) / max(u, FLOOR))


@dataclass
class Model:
    prior: float  # P(match) for a random (registry row, member) pair
    comparisons: dict[str, ComparisonParams]
    em_iterations: dict[str, int] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def rows(self) -> list[tuple[str, str, float, float, float]]:
        """(comparison, level, m, u, weight) for storage."""
        out = []
        for name, params in self.comparisons.items():
            for level in sorted(set(params.m) | set(params.u)):
                out.append((name, level, params.m.get(level, FLOOR), params.u.get(level, FLOOR),
                            params.weight(level)))
        return out


def normalise(counts: dict[str, float], levels: list[str]) -> dict[str, float]:
    total = sum(counts.get(lv, 0.0) for lv in levels)
    if total <= 0:
        return {lv: 1.0 / len(levels) for lv in levels}
    return {lv: max(counts.get(lv, 0.0) / total, FLOOR) for lv in levels}


PSEUDO_COUNT = 50.0  # weight of the starting m values: a small sample cannot swing m to 0 or 1


def smoothed(counts: dict[str, float], prior: dict[str, float], weight: float) -> dict[str, float]:
    """Level shares from counts, shrunk towards `prior` by `weight` pseudo-observations."""
    levels = list(prior)
    total = sum(counts.get(lv, 0.0) for lv in levels)
    return {lv: max((counts.get(lv, 0.0) + weight * prior[lv]) / (total + weight), FLOOR) for lv in levels}


def em_single(counts: dict[str, float], u: dict[str, float], m_start: dict[str, float],
              lam_start: float = 0.5, max_iter: int = 100, tol: float = 1e-6,
              fix_lambda: bool = False) -> tuple[dict[str, float], float, int]:
    """EM for one comparison over a table of level counts, with u held fixed.

    Returns (m, lambda, iterations). Each cell's match probability is
    λ·m / (λ·m + (1-λ)·u); m is the match-weighted share of each level, shrunk
    towards `m_start` by PSEUDO_COUNT observations so small samples stay sane.
    With one comparison the share of matches (λ) is barely identifiable; `fix_lambda`
    holds it at `lam_start`, which the caller estimates from a deterministic rule.
    """
    levels = list(counts)
    m = {lv: max(m_start.get(lv, FLOOR), FLOOR) for lv in levels}
    lam = lam_start
    total = sum(counts.values())
    if total == 0:
        return m, lam, 0
    for iteration in range(1, max_iter + 1):
        post = {}
        for lv in levels:
            a = lam * m[lv]
            b = (1 - lam) * max(u.get(lv, FLOOR), FLOOR)
            post[lv] = a / (a + b) if a + b > 0 else 0.0
        matched = {lv: counts[lv] * post[lv] for lv in levels}
        n_match = sum(matched.values())
        new_lam = lam if fix_lambda else min(max(n_match / total, FLOOR), 1 - FLOOR)
        new_m = smoothed(matched, m_start, PSEUDO_COUNT)
        delta = max(abs(new_m[lv] - m[lv]) for lv in levels) + abs(new_lam - lam)
        m, lam = new_m, new_lam
        if delta < tol:
            return m, lam, iteration
    return m, lam, max_iter


def probability(weight_sum: float) -> float:
    """Posterior match probability from the prior weight plus the level weights (bits)."""
    if weight_sum > 60:
        return 1.0
    if weight_sum < -60:
        return 0.0
    return 1.0 / (1.0 + 2.0 ** (-weight_sum))
