"""Statistical phase: deviation, onset, lead-lag and before/after comparison of every series.

Every metric series of the window (the system's metrics plus those derived from the prediction
log) is scored at once by the shared core in :mod:`rcaflows.rca.ranking` (z against the mean and
standard deviation of the reference, first sustained crossing of 3 sigma as onset, reaching back to
shifts already under way at the split).  For the strongest series it adds the lag at which the
series best correlates with the symptom series (a cause leads) and a Kolmogorov-Smirnov distance
between baseline and anomalous values; a series that lags the symptom or moved after it gets that
said against it, never for it.  The component phase ranks components from the same scores; the
statistical findings add sentences, not score, to the synthesis.  The symptom's own onset is
reported in the summary and in a ``symptom_onset`` finding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import stats

from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import Finding, PhaseName, PhaseResult, PhaseStatus
from rcaflows.rca.ranking import Z_THRESHOLD, fmt_num, fmt_time, onset_or_none, smooth
from rcaflows.rca.registry import PhaseSettings, phase_settings


class StatisticalSettings(PhaseSettings):
    """Settings of the statistical phase (``rca.phases.statistical``)."""

    max_findings: int = Field(40, ge=1, le=1000, description="Most deviating series reported as findings.")
    max_lag: int = Field(
        15, ge=0, le=240, description="Largest lag, in grid steps, tried in the lead-lag correlation with the symptom."
    )


def _lead_lag(values: np.ndarray, symptom: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (best correlation, best lag) per column; a positive lag means the column leads."""

    def norm(a: np.ndarray) -> np.ndarray:
        a = np.where(np.isfinite(a), a, np.nanmean(a, axis=0, keepdims=True))
        a = np.nan_to_num(a - a.mean(axis=0, keepdims=True))
        sd = a.std(axis=0, keepdims=True)
        return np.divide(a, sd, out=np.zeros_like(a), where=sd > 0)

    x = norm(values)
    s = norm(symptom[:, None])[:, 0]
    n = len(s)
    best_c = np.zeros(x.shape[1])
    best_l = np.zeros(x.shape[1], dtype=int)
    for lag in range(-max_lag, max_lag + 1):
        if n - abs(lag) < 10:
            continue
        if lag >= 0:  # x at t - lag against symptom at t
            c = (x[: n - lag] * s[lag:, None]).mean(axis=0)
        else:
            c = (x[-lag:] * s[: n + lag, None]).mean(axis=0)
        better = np.abs(c) > np.abs(best_c) + 1e-9
        best_c = np.where(better, c, best_c)
        best_l = np.where(better, lag, best_l)
    return best_c, best_l


class StatisticalPhase:
    """Score every series robustly; find onsets, lead-lag and distribution changes."""

    name = PhaseName.STATISTICAL
    settings_model = StatisticalSettings

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return one finding per deviating (component, metric)."""
        settings = phase_settings(ctx.config, self)
        assert isinstance(settings, StatisticalSettings)
        a = ctx.analysis
        tab = a.table
        if tab.empty:
            return PhaseResult(phase=self.name, status=PhaseStatus.OK, summary="no metric series in the window")
        findings: list[Finding] = []
        onset = a.symptom_onset
        step = a.matrix.step
        onset_txt = f"{fmt_time(onset)} UTC" if onset is not None else "unknown"
        findings.append(
            Finding(
                phase=self.name,
                component=ctx.symptom.component,
                metric=ctx.symptom.metric,
                kind="symptom_onset",
                score=0.0,
                onset=onset_or_none(onset),
                evidence=[f"the symptom {ctx.symptom.component}/{ctx.symptom.metric} began deviating at {onset_txt}"],
                details={
                    "informational": True,
                    "symptom_onset": None if onset is None else onset.isoformat(),
                    "split": a.split.isoformat(),
                    "symptom_series": list(a.symptom_key) if a.symptom_key else None,
                    "baseline": a.baseline_note,
                },
            )
        )
        keys = a.scores.keys
        z = a.scores.z
        cand = np.flatnonzero(z >= Z_THRESHOLD)
        cand = cand[np.argsort(-z[cand], kind="stable")]
        if a.symptom_key is not None:
            cand = cand[[keys[j] != a.symptom_key for j in cand]]
        cand = cand[: settings.max_findings]
        split = int(a.matrix.times.searchsorted(a.split))
        corr = np.zeros(len(cand))
        lags = np.zeros(len(cand), dtype=int)
        if a.symptom_key is not None and len(cand):
            sj = keys.index(a.symptom_key)
            lo = max(0, split - (len(a.matrix.times) - split))
            sm = smooth(a.matrix.values[lo:, :])
            corr, lags = _lead_lag(sm[:, cand], sm[:, sj], settings.max_lag)
        vals = a.matrix.values
        for i, j in enumerate(cand):
            comp, metric = keys[j]
            before = vals[:split, j]
            after = vals[split:, j]
            before, after = before[np.isfinite(before)], after[np.isfinite(after)]
            ks = float(stats.ks_2samp(before, after).statistic) if len(before) > 1 and len(after) > 1 else float("nan")
            row = tab.iloc[j]
            s_onset = row["onset"]
            score = float(row["score"]) * (0.75 + 0.25 * min(1.0, abs(float(corr[i]))))
            arrow = "rose" if row["direction"] > 0 else "fell"
            ev = [
                f"{comp}/{metric} {arrow} from a baseline median of {fmt_num(row['base_median'])} to "
                f"{fmt_num(row['cur_median'])} (z {row['z']:.1f}, KS distance {fmt_num(ks)})"
                + (f"; sustained deviation from {fmt_time(s_onset)} UTC" if not pd.isna(s_onset) else "")
            ]
            against: list[str] = []
            if a.symptom_key is not None and abs(corr[i]) >= 0.3:
                lead_min = lags[i] * step / pd.Timedelta(minutes=1)
                if lags[i] >= 0:
                    rel = f"leads it by {lead_min:.0f} min" if lags[i] > 0 else "moves with it"
                    ev.append(f"correlates with the symptom (r={corr[i]:.2f}) and {rel}")
                else:  # following the symptom argues against causing it
                    against.append(f"correlates with the symptom (r={corr[i]:.2f}) but lags it by {-lead_min:.0f} min")
            if onset is not None and not pd.isna(s_onset):
                delta = (s_onset - onset) / pd.Timedelta(minutes=1)
                # only an earlier onset supports a cause; a later one argues against; the same minute says nothing
                if delta < 0:
                    ev.append(f"its onset is {-delta:.0f} min before the symptom's")
                elif delta > 0:
                    against.append(f"its onset is {delta:.0f} min after the symptom's")
            findings.append(
                Finding(
                    phase=self.name,
                    component=comp,
                    metric=metric,
                    kind="metric_shift",
                    score=float(np.clip(score, 0.0, 1.0)),
                    onset=onset_or_none(s_onset),
                    evidence=ev,
                    contradicting=against,
                    details={
                        "z": round(float(row["z"]), 3),
                        "direction": int(row["direction"]),
                        "baseline_median": float(row["base_median"]),
                        "current_median": float(row["cur_median"]),
                        "ks": None if np.isnan(ks) else round(ks, 4),
                        "lag_corr": round(float(corr[i]), 4),
                        "lag_steps": int(lags[i]),
                        "onset_at_split": bool(row["onset_clamped"]),
                        "metric_kind": str(ctx.metric_kind(comp, metric)),
                    },
                )
            )
        n = len(findings) - 1
        summary = f"{n} series deviate (robust z >= {Z_THRESHOLD:g}); symptom onset {onset_txt}"
        return PhaseResult(phase=self.name, status=PhaseStatus.OK, findings=findings, summary=summary)
