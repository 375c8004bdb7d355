"""Security and adversarial use: OOD inputs, query floods, confidence shifts and traffic surges."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from rcaflows.config.models import MetricKind, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import (
    CheckFactory,
    fmt_change,
    rate_onset,
    register,
    score_from_p,
    score_from_ratio,
    seasonal_reference,
)
from rcaflows.detection.detectors.performance import watched_specs
from rcaflows.detection.detectors.quality import two_proportion_drop
from rcaflows.detection.model_scope import for_model
from rcaflows.detection.models import CheckResult
from rcaflows.detection.robust import window_shift_checks
from rcaflows.detection.stats import robust_location_scale
from rcaflows.graph import client_node
from rcaflows.model.log import rows_of
from rcaflows.vocab import CheckStatus, IncidentType

#: Significance level of the OOD-rate and confidence-shift tests.
ALPHA = 0.001
#: A value is out of distribution only when also outside this central share of the reference, so
#: heavy-tailed features (amounts) do not count their ordinary tail.
OOD_QUANTILES = (0.0005, 0.9995)


def ood_mask(
    reference: pd.DataFrame, current: pd.DataFrame, features: list[str], ood_z: float
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return per-row OOD flags of reference and current rows, and the features used (NaN is never OOD)."""
    feats = [
        f
        for f in features
        if f in reference.columns
        and f in current.columns
        and pd.api.types.is_numeric_dtype(reference[f])
        and pd.api.types.is_numeric_dtype(current[f])
    ]
    R = reference[feats].to_numpy(dtype=float)
    C = current[feats].to_numpy(dtype=float)
    med, scale = robust_location_scale(R, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(R, OOD_QUANTILES, axis=0) if len(R) else (med, med)

    def flags(X: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(X - med) / scale
            return (z > ood_z) & ((lo > X) | (hi < X))

    return flags(R), flags(C), feats


@register
class SecurityDetector:
    """OOD input rate, per-client query share, prediction-confidence shift and traffic surges."""

    name = "security"
    incident_type = IncidentType.SECURITY_ADVERSARIAL
    scope = "frames"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return OOD, client-flood, confidence-shift and traffic-surge checks."""
        s = config.detectors.security_adversarial
        make = CheckFactory(self.name, self.incident_type, window.current)
        out: list[CheckResult] = []
        for model in config.models:
            # each model's own rows: its inputs, its clients' share of its traffic, its confidences
            cur = rows_of(window.current.predictions, model)
            ref = rows_of(window.reference.predictions, model)
            mine: list[CheckResult] = []
            if cur.empty or ref.empty:
                side = "current" if cur.empty else "reference"
                mine += [
                    make.no_data(
                        model.component, sub, f"no predictions of {model.name} in the {side} window", check=sub
                    )
                    for sub in ("ood_inputs", "client_flood", "confidence_shift")
                ]
            else:
                mine += self._ood(make, model.component, model.features, ref, cur, s.ood_z, s.max_ood_rate)
                mine += self._clients(make, model.client_column, ref, cur, s.client_share, s.client_ratio)
                seasonal = seasonal_reference(
                    ref, window.current.start, window.current.end, reference_start=window.reference.start
                )
                mine += self._confidence(make, model.component, seasonal, cur, s.confidence_effect, ref)
            out += for_model(mine, model, config)
        out += self._surge(window, config, make)
        return out

    @staticmethod
    def _ood(
        make: CheckFactory,
        comp: str,
        features: list[str],
        ref: pd.DataFrame,
        cur: pd.DataFrame,
        ood_z: float,
        max_rate: float,
    ) -> list[CheckResult]:
        r_flag, c_flag, feats = ood_mask(ref, cur, features, ood_z)
        if not feats:
            return [
                make.no_data(comp, "ood_inputs", "no numeric model features in the prediction log", check="ood_rate")
            ]
        r_any, c_any = np.asarray(r_flag.any(axis=1)), np.asarray(c_flag.any(axis=1))
        k_r, n_r, k_c, n_c = int(r_any.sum()), r_any.size, int(c_any.sum()), c_any.size
        rate_r, rate_c = k_r / n_r, k_c / n_c
        p = _one_sided_up(k_r, n_r, k_c, n_c)
        if rate_c >= max_rate and p < ALPHA:
            status = CheckStatus.FAIL
        elif rate_c >= max_rate / 2 and p < math.sqrt(ALPHA):
            status = CheckStatus.WARN
        else:
            status = CheckStatus.OK
        score = score_from_ratio(rate_c / max_rate)
        score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
        share = c_flag.mean(axis=0)
        top = [feats[i] for i in np.argsort(-share)[:3] if share[i] > 0]
        onset = None
        if status == CheckStatus.FAIL:
            onset = rate_onset(ref["timestamp"], r_any.astype(float), cur["timestamp"], c_any.astype(float))
        return [
            make(
                check="ood_rate",
                subtype="ood_inputs",
                component=comp,
                metric="ood_rate",
                status=status,
                statistic=rate_c,
                baseline=rate_r,
                threshold=max_rate,
                p_value=p,
                score=score,
                onset=onset,
                message=(
                    f"{rate_c:.1%} of {n_c} current inputs are out of distribution (|robust z| > {ood_z:g}) "
                    f"vs {rate_r:.2%} in the reference; most affected: {', '.join(top) or 'none'}"
                ),
                details={
                    "features": {feats[i]: float(share[i]) for i in range(len(feats))},
                    "top_features": top,
                    "headline": f"{rate_c:.0%} OOD inputs",
                },
            )
        ]

    @staticmethod
    def _clients(
        make: CheckFactory, col: str, ref: pd.DataFrame, cur: pd.DataFrame, min_share: float, min_ratio: float
    ) -> list[CheckResult]:
        if col not in cur.columns:
            return [
                make.no_data(
                    "clients",
                    "client_flood",
                    f"no '{col}' column in the prediction log",
                    check="client_share",
                )
            ]
        cur_share = cur[col].astype(str).value_counts(normalize=True)
        ref_share = ref[col].astype(str).value_counts(normalize=True) if col in ref.columns else pd.Series(dtype=float)
        base = ref_share.reindex(cur_share.index).fillna(0.0)
        with np.errstate(divide="ignore"):
            ratio = cur_share / base
        out: list[CheckResult] = []
        watched = cur_share[cur_share >= min_share / 2]
        for client, share in watched.items():
            b, rt = float(base[client]), float(ratio[client])
            if share >= min_share and rt >= min_ratio:
                status = CheckStatus.FAIL
            elif rt >= min_ratio:
                status = CheckStatus.WARN
            else:
                status = CheckStatus.OK
            score = score_from_ratio(min(share / min_share, rt / min_ratio))
            score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
            onset = None
            if status == CheckStatus.FAIL:
                mine_r = (ref[col].astype(str) == client) if col in ref.columns else pd.Series(False, index=ref.index)
                mine_c = cur[col].astype(str) == client
                onset = rate_onset(
                    ref["timestamp"], mine_r.to_numpy(dtype=float), cur["timestamp"], mine_c.to_numpy(dtype=float)
                )
            out.append(
                make(
                    check="client_share",
                    subtype="client_flood",
                    component=client_node(str(client)),
                    metric="query_share",
                    status=status,
                    statistic=float(share),
                    baseline=b,
                    threshold=min_share,
                    score=score,
                    onset=onset,
                    message=(
                        f"client {client} sent {share:.1%} of {len(cur)} current requests vs {b:.2%} before "
                        f"({'new client' if b == 0 else f'{rt:.1f}x'})"
                    ),
                    details={
                        "client": str(client),
                        "ratio": rt if math.isfinite(rt) else None,
                        "requests": round(share * len(cur)),
                        "headline": f"{share:.0%} of traffic",
                    },
                )
            )
        if not out:
            top = cur_share.index[0] if len(cur_share) else "none"
            out.append(
                make(
                    check="client_share",
                    subtype="client_flood",
                    component="clients",
                    metric="query_share",
                    status=CheckStatus.OK,
                    statistic=float(cur_share.iloc[0]) if len(cur_share) else None,
                    threshold=min_share,
                    message=f"no client above {min_share / 2:.0%} of traffic (largest: {top})",
                )
            )
        return out

    @staticmethod
    def _confidence(
        make: CheckFactory, comp: str, ref: pd.DataFrame, cur: pd.DataFrame, min_effect: float, history: pd.DataFrame
    ) -> list[CheckResult]:
        """Test whether prediction confidences fell below ``ref``'s; ``history`` (the whole reference) dates it."""
        if "score" not in cur.columns or "score" not in ref.columns:
            return [make.no_data(comp, "confidence_shift", "no 'score' column", check="confidence_ks")]
        rc, cc = _confidence_of(ref), _confidence_of(cur)
        rc, cc = rc[np.isfinite(rc)], cc[np.isfinite(cc)]
        if len(rc) < 30 or len(cc) < 30:
            return [
                make.no_data(
                    comp,
                    "confidence_shift",
                    f"too few scores ({len(cc)} current, {len(rc)} reference)",
                    check="confidence_ks",
                    reason="insufficient",
                )
            ]
        # One-sided: an attack probing the model pushes its predictions towards the decision boundary
        # (confidence falls, the current CDF lies above the reference's); confidence rising back
        # after an attack that the same-hour reference still holds is no attack.
        # Exact p-values only for small samples: beyond that the asymptotic one is as good, and scipy's
        # exact path count on thousands of tied scores takes ~0.2 s before giving up on it anyway.
        method = "exact" if len(rc) * len(cc) <= 10_000 else "asymp"
        res = ks_2samp(rc, cc, alternative="less", method=method)
        d, p = float(res.statistic), float(res.pvalue)
        if d >= min_effect and p < ALPHA:
            status = CheckStatus.FAIL
        elif d >= min_effect / 2 and p < ALPHA:
            status = CheckStatus.WARN
        else:
            status = CheckStatus.OK
        score = min(score_from_ratio(d / min_effect), score_from_p(p, ALPHA))
        score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
        med_r, med_c = float(np.median(rc)), float(np.median(cc))
        return [
            make(
                check="confidence_ks",
                subtype="confidence_shift",
                component=comp,
                metric="confidence",
                status=status,
                statistic=d,
                baseline=med_r,
                threshold=min_effect,
                p_value=p,
                score=score,
                onset=(
                    rate_onset(history["timestamp"], _confidence_of(history), cur["timestamp"], _confidence_of(cur))
                    if status == CheckStatus.FAIL
                    else None
                ),
                message=(
                    f"prediction confidence median {med_c:.2f} vs {med_r:.2f} at the same time earlier "
                    f"(KS distance {d:.2f}, min {min_effect:g}, p {p:.2g})"
                ),
                details={
                    "median_current": med_c,
                    "median_reference": med_r,
                    "headline": f"confidence {fmt_change((med_c - med_r) / med_r if med_r else None)}",
                },
            )
        ]

    @staticmethod
    def _surge(window: Window, config: SystemConfig, make: CheckFactory) -> list[CheckResult]:
        perf = config.detectors.performance_availability
        specs = watched_specs(config, [MetricKind.THROUGHPUT])
        return window_shift_checks(
            window,
            specs,
            make,
            z_threshold=perf.z_threshold,
            min_relative_change=perf.min_relative_change,
            sustain=perf.sustain,
            direction=[1] * len(specs),  # a rise in traffic is what matters here
            subtype="traffic_surge",
        )


def _one_sided_up(k_r: int, n_r: int, k_c: int, n_c: int) -> float:
    """Return the one-sided p-value that the current proportion is above the reference one."""
    _, p = two_proportion_drop(k_c, n_c, k_r, n_r)
    return p


def _confidence_of(df: pd.DataFrame) -> np.ndarray:
    """Return per row the prediction confidence ``|score - 0.5|·2`` (NaN where the score is missing)."""
    return np.abs(pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=float) - 0.5) * 2
