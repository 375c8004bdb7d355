"""Bias and fairness: gaps between protected groups, and near-identical individuals treated differently.

Every declared group column (``model.log.groups``) is judged; FPR and TPR gaps together are
equalized odds, the positive-rate gap is demographic parity (binary models). Individual fairness
(``model.analysis.individual_fairness``, every task but ranking) asks whether rows that differ
only in the protected attribute get different outcomes more often than near-identical rows of the
same group do (:mod:`rcaflows.model.individual`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from rcaflows.config.models import FairnessDetector as FairnessSettings
from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import CheckFactory, rate_onset, register, score_from_ratio, ts_array
from rcaflows.detection.detectors.quality import labelled
from rcaflows.detection.model_scope import for_model
from rcaflows.detection.models import CheckResult
from rcaflows.model.individual import Comparison, compare_windows
from rcaflows.model.log import group_columns, model_view, rows_of
from rcaflows.vocab import CheckStatus, IncidentType

#: Smallest per-group denominator (e.g. actual negatives for FPR) a rate is judged on.
MIN_DENOMINATOR = 30
#: Gap metrics; positive rate needs no label, so it uses all rows, the others labelled rows.
GAP_METRICS = ("fpr", "tpr", "positive_rate", "accuracy")
#: Error-rate gaps (equalized odds) explain positive-rate and accuracy gaps, not the other way round.
EXPLAINING = ("fpr", "tpr")


def wilson(k: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the Wilson score interval (low, high) of k successes in n trials."""
    n = np.maximum(n, 1)
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def newcombe_diff(k1: int, n1: int, k2: int, n2: int, confidence: float) -> tuple[float, float, float]:
    """Return (difference, low, high) of p1 - p2 with Newcombe's hybrid score interval."""
    z = float(norm.ppf(0.5 + confidence / 2))
    (l1, l2), (u1, u2) = wilson(np.array([k1, k2], float), np.array([n1, n2], float), z)
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def group_counts(all_rows: pd.DataFrame, lab: pd.DataFrame, group_col: str, threshold: float) -> pd.DataFrame:
    """Return per group: successes and trials of every gap metric, and the labelled row count."""

    def pred(df: pd.DataFrame) -> pd.Series:
        if "prediction" in df.columns:
            return df["prediction"].astype(float) >= 0.5
        return df["score"].astype(float) >= threshold

    pa = pd.DataFrame({"g": all_rows[group_col].astype(str), "p": pred(all_rows)})
    y = lab["label"].astype(float) >= 0.5
    p = pred(lab)
    pl = pd.DataFrame({"g": lab[group_col].astype(str), "y": y, "p": p, "tp": y & p, "fp": ~y & p, "hit": y == p})
    a = pa.groupby("g")["p"].agg(["sum", "count"])
    b = pl.groupby("g").agg(pos=("y", "sum"), n=("y", "count"), tp=("tp", "sum"), fp=("fp", "sum"), hit=("hit", "sum"))
    out = pd.DataFrame(index=a.index.union(b.index))
    out["positive_rate_k"], out["positive_rate_n"] = a["sum"], a["count"]
    out["tpr_k"], out["tpr_n"] = b["tp"], b["pos"]
    out["fpr_k"], out["fpr_n"] = b["fp"], b["n"] - b["pos"]
    out["accuracy_k"], out["accuracy_n"] = b["hit"], b["n"]
    out["labelled"] = b["n"]
    return out.fillna(0).astype(int)


def group_outcomes(
    all_rows: pd.DataFrame, lab: pd.DataFrame, gcol: str, group: str, metric: str, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return timestamps and 0/1 outcomes of one group's rows in ``metric``'s denominator."""
    df = all_rows if metric == "positive_rate" else lab
    df = df.loc[df[gcol].astype(str) == group]
    p = (
        (df["prediction"].to_numpy(dtype=float) >= 0.5)
        if "prediction" in df.columns
        else (df["score"].to_numpy(dtype=float) >= threshold)
    )
    ts = ts_array(df["timestamp"])
    if metric == "positive_rate":
        return ts, p.astype(float)
    y = df["label"].to_numpy(dtype=float) >= 0.5
    if metric == "tpr":
        return ts[y], p[y].astype(float)
    if metric == "fpr":
        return ts[~y], p[~y].astype(float)
    return ts, (y == p).astype(float)


@register
class FairnessDetector:
    """Largest between-group gap per metric, judged by the lower bound of its confidence interval."""

    name = "fairness"
    incident_type = IncidentType.BIAS_FAIRNESS
    scope = "frames"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return one check per gap metric (fpr_gap, tpr_gap, positive_rate_gap, accuracy_gap) and group column.

        The first group column's checks keep the plain subtypes; the others' carry ``[column]``.
        Only binary models have these rates; other tasks' group differences are found by the
        slice search of the model-behaviour phase.
        """
        s = config.detectors.bias_fairness
        make = CheckFactory(self.name, self.incident_type, window.current)
        out: list[CheckResult] = []
        for model in config.models:
            out += for_model(self._model_checks(make, window, model, s), model, config)
        return out

    def _model_checks(
        self, make: CheckFactory, window: Window, model: ModelConfig, s: FairnessSettings
    ) -> list[CheckResult]:
        """Return the gap and individual-fairness checks of one model, on its own rows."""
        cur_view = model_view(window.current.predictions, model)
        ref_view = model_view(window.reference.predictions, model)
        end = pd.Timestamp(window.current.end)
        out: list[CheckResult] = []
        if model.task == "binary":
            for i, gcol in enumerate(group_columns(model)):
                out += self._gaps(make, model, s, cur_view, ref_view, end, gcol, "" if i == 0 else f"[{gcol}]")
            out = self._explain(out)
        if model.analysis.individual_fairness.enabled and model.task != "ranking":
            out += self._individual(make, model, s, window, cur_view, ref_view)
        return out

    def _individual(
        self,
        make: CheckFactory,
        model: ModelConfig,
        s: FairnessSettings,
        window: Window,
        cur_view: pd.DataFrame,
        ref_view: pd.DataFrame,
    ) -> list[CheckResult]:
        """Return one individual-fairness check per group column (plain subtype for the first, ``[col]`` after).

        Fails when the excess's confidence interval lies above ``max_excess`` and so does the
        interval of its rise from the reference window's excess (a new unfairness, not a standing
        one); warns when the excess alone passes ``max_excess``.
        """
        comp = model.component
        cols = group_columns(model)
        subs = ["individual_fairness" + ("" if i == 0 else f"[{c}]") for i, c in enumerate(cols)]
        if cur_view.empty:
            msg = f"no predictions of {model.name} in the current window"
            return [make.no_data(comp, sub, msg, metric=sub, check="individual_pairs") for sub in subs]
        raw = rows_of(window.current.predictions, model)
        rid = model.log.request_id
        ids = raw[rid] if rid is not None and rid in raw.columns else cur_view.get("id")
        try:
            results = compare_windows(ref_view, cur_view, model, current_ids=ids)
        except ValueError as exc:
            return [
                make.no_data(comp, sub, f"individual fairness: {exc}", metric=sub, check="individual_pairs")
                for sub in subs
            ]
        return [self._individual_check(make, model, s, sub, r) for sub, r in zip(subs, results, strict=True)]

    @staticmethod
    def _individual_check(
        make: CheckFactory, model: ModelConfig, s: FairnessSettings, sub: str, r: Comparison
    ) -> CheckResult:
        """Return the individual-fairness check of one group column from its window comparison."""
        cfg = model.analysis.individual_fairness
        cur, ref = r.current, r.reference
        col = cur.column
        if cur.matched < cfg.min_pairs:
            why = f"; {cur.problem}" if cur.problem else ""
            return make.no_data(
                model.component,
                sub,
                f"individual fairness [{col}]: {cur.matched} of {cur.rows} rows have a near-identical row both in "
                f"another and in their own '{col}' group (need {cfg.min_pairs}; tolerance {cfg.tolerance}){why}",
                metric=sub,
                check="individual_pairs",
                reason="insufficient",
                details={"group_column": col, "matched": cur.matched, "rows": cur.rows},
            )
        if cur.floor > cfg.max_floor:
            return make.no_data(
                model.component,
                sub,
                f"individual fairness [{col}]: near-identical rows of the same '{col}' group get different outcomes "
                f"in {cur.floor:.0%} of {cur.matched} pairs (max {cfg.max_floor:.0%}): the declared features do not "
                "determine the outcome, so a pair says nothing about the protected attribute",
                metric=sub,
                check="individual_pairs",
                reason="insufficient",
                details={"group_column": col, "matched": cur.matched, "same_rate": cur.floor, "cross_rate": cur.rate},
            )
        low, high = cur.interval(s.confidence)
        ref_ok = ref.matched >= cfg.min_pairs
        p = r.p_value if ref_ok else float("nan")
        # new unfairness, not a standing one: the rise from the reference passes max_excess with confidence
        # (without reference pairs the rise is judged from zero)
        z = float(norm.ppf(0.5 + s.confidence / 2))
        rise = cur.excess - (ref.excess if ref_ok else 0.0)
        rise_low = rise - z * math.sqrt(cur.se**2 + (ref.se**2 if ref_ok else 0.0))
        if low > cfg.max_excess and rise_low > cfg.max_excess:
            status = CheckStatus.FAIL
        elif cur.excess > cfg.max_excess:
            status = CheckStatus.WARN
        else:
            status = CheckStatus.OK
        score = score_from_ratio(low / cfg.max_excess) if low > 0 else 0.0
        score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
        ordered = {g: v for g, v in cur.by_group.items() if "favoured" in v}
        favoured = max(ordered, key=lambda g: ordered[g]["favoured"], default=None)
        fav_txt = (
            f"; group {favoured} gets the higher outcome in {ordered[favoured]['favoured']:.0%} of its discordant pairs"
            if favoured is not None
            else ""
        )
        ref_txt = f"{ref.excess:+.3f}" if ref_ok else "n/a"
        return make(
            check="individual_pairs",
            subtype=sub,
            component=model.component,
            metric=sub,
            status=status,
            statistic=cur.excess,
            baseline=ref.excess if ref_ok else None,
            threshold=cfg.max_excess,
            score=score,
            message=(
                f"{model.name} near-identical individuals across '{col}' get different outcomes in {cur.rate:.1%} "
                f"of {cur.matched} pairs vs {cur.floor:.1%} within a group: excess {cur.excess:+.3f}, "
                f"{s.confidence:.0%} CI [{low:+.3f}, {high:+.3f}] vs reference {ref_txt} (max {cfg.max_excess:.2f})"
                f"{fav_txt}"
            ),
            details={
                "group_column": col,
                "matched": cur.matched,
                "rows": cur.rows,
                "cross_rate": cur.rate,
                "same_rate": cur.floor,
                "excess": cur.excess,
                "ci_low": low,
                "ci_high": high,
                "reference_excess": ref.excess if ref_ok else None,
                "reference_matched": ref.matched,
                "rise_p": p,
                "rise_ci_low": rise_low,
                "by_group": cur.by_group,
                "example_pairs": cur.examples,
                "tolerance": cfg.tolerance,
                "headline": f"individual unfairness {cur.excess:+.2f} ({col})",
                **({"log_problem": cur.problem} if cur.problem else {}),
            },
        )

    def _gaps(
        self,
        make: CheckFactory,
        model: ModelConfig,
        s: FairnessSettings,
        cur_all: pd.DataFrame,
        ref_all: pd.DataFrame,
        end: pd.Timestamp,
        gcol: str,
        suffix: str,
    ) -> list[CheckResult]:
        """Return the gap checks of one group column."""
        comp = model.component
        if cur_all.empty or gcol not in cur_all.columns:
            msg = f"no predictions with a '{gcol}' column in the current window"
            return [
                make.no_data(comp, f"{m}_gap{suffix}", msg, metric=f"{m}_gap", check="group_gap") for m in GAP_METRICS
            ]
        cur = group_counts(cur_all, labelled(cur_all, end), gcol, model.threshold)
        ref = (
            group_counts(ref_all, labelled(ref_all, end), gcol, model.threshold)
            if not ref_all.empty and gcol in ref_all.columns
            else None
        )
        out = []
        for m in GAP_METRICS:
            size = cur["positive_rate_n"] if m == "positive_rate" else cur["labelled"]
            ok = (size >= s.min_group_size) & (cur[f"{m}_n"] >= MIN_DENOMINATOR)
            elig = cur.loc[ok]
            sub = f"{m}_gap{suffix}"
            if len(elig) < 2:
                out.append(
                    make.no_data(
                        comp,
                        sub,
                        f"{m}: fewer than two groups with {s.min_group_size}+ rows and {MIN_DENOMINATOR}+ "
                        f"in the {m} denominator (rows: { {str(k): int(v) for k, v in size.items()} }, "
                        f"denominators: { {str(k): int(v) for k, v in cur[f'{m}_n'].items()} })",
                        metric=sub,
                        check="group_gap",
                        reason="insufficient",
                    )
                )
                continue
            rate = elig[f"{m}_k"] / elig[f"{m}_n"]
            hi, lo = str(rate.idxmax()), str(rate.idxmin())
            d, low, high = newcombe_diff(
                int(elig.at[hi, f"{m}_k"]),
                int(elig.at[hi, f"{m}_n"]),
                int(elig.at[lo, f"{m}_k"]),
                int(elig.at[lo, f"{m}_n"]),
                s.confidence,
            )
            ref_gap = None
            if ref is not None and hi in ref.index and lo in ref.index:
                nh, nl = ref.at[hi, f"{m}_n"], ref.at[lo, f"{m}_n"]
                if nh > 0 and nl > 0:
                    ref_gap = ref.at[hi, f"{m}_k"] / nh - ref.at[lo, f"{m}_k"] / nl
            grew = low > (ref_gap if ref_gap is not None else 0.0)
            if low > s.max_gap and grew:
                status = CheckStatus.FAIL
            elif d > s.max_gap:
                status = CheckStatus.WARN
            else:
                status = CheckStatus.OK
            onset = None
            if status == CheckStatus.FAIL and ref is not None:
                onset = self._onset(
                    cur_all,
                    labelled(cur_all, end),
                    ref_all,
                    end,
                    gcol,
                    m,
                    model.threshold,
                    hi,
                    lo,
                    float(rate[hi]),
                    float(rate[lo]),
                )
            score = score_from_ratio(low / s.max_gap) if low > 0 else 0.0
            score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
            ref_txt = f"{ref_gap:+.3f}" if ref_gap is not None else "n/a"
            out.append(
                make(
                    check="group_gap",
                    subtype=sub,
                    component=comp,
                    metric=sub,
                    status=status,
                    statistic=d,
                    onset=onset,
                    baseline=ref_gap,
                    threshold=s.max_gap,
                    score=score,
                    message=(
                        f"{model.name} {m} gap {d:+.3f} between group {hi} ({rate[hi]:.3f}) and {lo} "
                        f"({rate[lo]:.3f}), {s.confidence:.0%} CI [{low:+.3f}, {high:+.3f}] vs reference "
                        f"gap {ref_txt} (max {s.max_gap:.2f})"
                    ),
                    details={
                        "groups": [hi, lo],
                        "rates": {hi: float(rate[hi]), lo: float(rate[lo])},
                        "ci_low": low,
                        "ci_high": high,
                        "n": {g: int(elig.at[g, f"{m}_n"]) for g in (hi, lo)},
                        "headline": f"{m} gap {d:+.2f} ({hi} vs {lo})",
                        "group_column": gcol,
                    },
                )
            )
        return out

    @staticmethod
    def _explain(checks: list[CheckResult]) -> list[CheckResult]:
        """Rank a failing positive-rate/accuracy gap below a failing FPR/TPR gap that explains it."""
        top = [c for c in checks if c.failed and c.metric in EXPLAINING]
        if not top:
            return checks
        best = max(top, key=lambda c: c.score)
        out = []
        for c in checks:
            if c.failed and c.metric not in EXPLAINING and c.score >= best.score:
                c = c.model_copy(
                    update={
                        "score": max(0.5, best.score - 0.01),
                        "details": {**c.details, "explained_by": best.subtype},
                    }
                )
            out.append(c)
        return out

    @staticmethod
    def _onset(
        cur_all: pd.DataFrame,
        cur_lab: pd.DataFrame,
        ref_all: pd.DataFrame,
        end: pd.Timestamp,
        gcol: str,
        metric: str,
        threshold: float,
        hi: str,
        lo: str,
        rate_hi: float,
        rate_lo: float,
    ) -> Any:
        """Return the onset of the gap: where the group that moved more vs its reference rate moved."""
        ref_lab = labelled(ref_all, end)
        moves = []
        for g, rate, direction in ((hi, rate_hi, 1), (lo, rate_lo, -1)):
            ts_r, xr = group_outcomes(ref_all, ref_lab, gcol, g, metric, threshold)
            if len(xr) == 0:
                continue
            moves.append((direction * (rate - float(xr.mean())), g, ts_r, xr))
        if not moves:
            return None
        _, g, ts_r, xr = max(moves, key=lambda m: m[0])
        ts, x = group_outcomes(cur_all, cur_lab, gcol, g, metric, threshold)
        return rate_onset(ts_r, xr, ts, x)
