"""Attribution drift: the model leans on a feature differently while the feature itself did not move.

With per-feature attribution columns declared in ``model.log.attributions`` (SHAP values or
similar, logged with each prediction), each feature's share of the total mean |attribution| is
compared between the reference and the current window, and its attribution values with a
two-sample KS test (:func:`rcaflows.model.behaviour.attribution_shifts`, the same numbers the
model-behaviour RCA phase reads). A share that moves by ``min_share_change`` or more fails, unless
the feature's own values drifted: then the input explains the attribution and the data-quality
drift checks own it. Such a change can come before any accuracy change (labels arrive late, and a
model leaning on a proxy is still right until the proxy breaks), so it opens a quality incident
on the model's component before the realised metrics move.

Settings live in ``detectors.extra.attribution_drift`` (:class:`AttributionDriftSettings`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import CheckFactory, detector_settings, rate_onset, register, score_from_p, ts_array
from rcaflows.detection.drift import detect_drift
from rcaflows.detection.model_scope import for_model
from rcaflows.detection.models import CheckResult
from rcaflows.model import log as model_log
from rcaflows.model.behaviour import attribution_shifts
from rcaflows.vocab import CheckStatus, IncidentType


class AttributionDriftSettings(BaseModel):
    """Settings of the attribution-drift detector (``detectors.extra.attribution_drift``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run this detector (it needs model.log.attributions).")
    min_share_change: float = Field(
        0.1, gt=0, lt=1, description="Smallest absolute change of a feature's share of total |attribution| that fails."
    )
    alpha: float = Field(
        0.001, gt=0, lt=1, description="Significance level of the KS test of the feature's attribution values."
    )
    min_rows: int = Field(200, ge=20, description="Fewer rows in either window than this gives 'no_data'.")


@register
class AttributionDriftDetector:
    """One check per logged attribution: did the feature's share of the model's attribution move?"""

    name = "attribution_drift"
    incident_type = IncidentType.QUALITY_DEGRADATION
    scope = "frames"
    settings_model = AttributionDriftSettings

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return one check per declared attribution column of each model, or ``no_data`` when none can be judged."""
        models = [m for m in config.models if m.log.attributions]
        if not models:
            return []
        s: AttributionDriftSettings = detector_settings(config, self)
        if not s.enabled:
            return []
        make = CheckFactory(self.name, self.incident_type, window.current)
        out: list[CheckResult] = []
        for model in models:
            out += for_model(self._model_checks(make, window, config, model, s), model, config)
        return out

    @staticmethod
    def _model_checks(
        make: CheckFactory, window: Window, config: SystemConfig, model: ModelConfig, s: AttributionDriftSettings
    ) -> list[CheckResult]:
        """Return the attribution checks of one model, on its own rows."""
        raw_c = model_log.rows_of(window.current.predictions, model)
        raw_r = window.reference.predictions
        if raw_c.empty:
            return [
                make.no_data(
                    model.component,
                    "attribution_drift",
                    f"no predictions of {model.name} in the current window",
                    check="attribution_share",
                    metric="attributions",
                )
            ]
        declared = model.log.attributions
        problems = [
            f"log.attributions[{f}] '{c}' is not in the prediction log"
            for f, c in declared.items()
            if c not in raw_c.columns
        ]
        problems += [
            f"log.attributions[{f}] names no feature of the model (expected one of {model.features})"
            for f in declared
            if f not in model.features
        ]
        usable = {f: c for f, c in declared.items() if f in model.features and c in raw_c.columns}
        out: list[CheckResult] = []
        if problems:
            out.append(
                make.no_data(
                    model.component,
                    "prediction_log",
                    f"model {model.name}: " + "; ".join(problems),
                    check="attribution_share",
                    metric="attributions",
                    reason="invalid",
                    details={"log_problems": problems},
                )
            )
        if not usable:
            return out
        cur = model_log.model_view(raw_c, model)
        ref = model_log.model_view(raw_r, model)
        if len(cur) < s.min_rows or len(ref) < s.min_rows:
            return [
                *out,
                make.no_data(
                    model.component,
                    "attribution_drift",
                    f"{len(cur)} predictions in the current window and {len(ref)} in the reference (need {s.min_rows})",
                    check="attribution_share",
                    metric="attributions",
                    reason="insufficient",
                ),
            ]
        dq = config.detectors.data_quality
        feats = [f for f in usable if f in ref.columns and f in cur.columns]
        drift = (
            detect_drift(ref[feats], cur[feats], alpha=dq.drift_alpha, min_effect=dq.drift_min_effect, columns=feats)
            if feats
            else pd.DataFrame(columns=["column", "drifted"])
        )
        drifted = set(drift.loc[drift["drifted"].astype(bool), "column"]) if not drift.empty else set()
        cols = list(usable.values())
        total_r = ref[cols].abs().sum(axis=1).to_numpy(dtype=float)
        total_c = cur[cols].abs().sum(axis=1).to_numpy(dtype=float)
        for shift in attribution_shifts(ref, cur, usable):
            feat, col = shift.feature, usable[shift.feature]
            moved = shift.change >= s.min_share_change and shift.p_value < s.alpha
            if feat in drifted:
                status = CheckStatus.OK  # the input moved: data-quality drift owns it
            elif moved:
                status = CheckStatus.FAIL
            elif shift.change >= s.min_share_change / 2 and shift.p_value < np.sqrt(s.alpha):
                status = CheckStatus.WARN
            else:
                status = CheckStatus.OK
            score = score_from_p(shift.p_value, s.alpha) * min(1.0, shift.change / s.min_share_change)
            score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
            onset = None
            if status == CheckStatus.FAIL:
                # the per-row share of this feature in the row's total |attribution|, dated like a rate
                with np.errstate(invalid="ignore", divide="ignore"):
                    x_r = np.abs(ref[col].to_numpy(dtype=float)) / total_r
                    x_c = np.abs(cur[col].to_numpy(dtype=float)) / total_c
                onset = rate_onset(ts_array(ref["timestamp"]), x_r, ts_array(cur["timestamp"]), x_c)
            why = (
                "; the feature's own values drifted, so the input explains it"
                if feat in drifted
                else "; its values did not drift: the model uses it differently"
                if moved
                else ""
            )
            moved_by = shift.share_current - shift.share_reference
            out.append(
                make(
                    check="attribution_share",
                    subtype="attribution_drift",
                    component=model.component,
                    metric=feat,
                    status=status,
                    statistic=shift.share_current,
                    baseline=shift.share_reference,
                    threshold=s.min_share_change,
                    p_value=shift.p_value,
                    score=score,
                    onset=onset,
                    message=(
                        f"{model.name} attribution share of {feat} {shift.share_current:.1%} vs "
                        f"{shift.share_reference:.1%} baseline (change {moved_by:+.1%}, "
                        f"KS {shift.ks:.2f}, p {shift.p_value:.2g}){why}"
                    ),
                    details={
                        "column": col,
                        "ks": shift.ks,
                        "change": moved_by,
                        "input_drift": feat in drifted,
                        "n_current": len(cur),
                        "n_reference": len(ref),
                        "headline": f"{feat} attribution share {shift.share_reference:.0%} → {shift.share_current:.0%}",
                    },
                )
            )
        return out
