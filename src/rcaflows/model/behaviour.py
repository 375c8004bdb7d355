"""Model-side checks that need logged columns: attribution drift and prediction consistency.

* **Attribution drift**: with per-feature attribution columns logged (``model.log.attributions``,
  e.g. SHAP values), each feature's share of the total mean absolute attribution is compared
  between the windows, and the attribution distribution with a two-sample KS test; a feature
  whose share moves while its values do not means the model's use of it changed.
* **Consistency**: rows with the same input id (or hash) served by the same version should get the
  same prediction; the share of ids with more than one distinct prediction is compared with the
  reference's (a model with sampling or dropout at inference is inconsistent by design).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class AttributionShift:
    """One feature's attribution share and distribution in both windows."""

    feature: str
    share_reference: float
    share_current: float
    ks: float
    p_value: float

    @property
    def change(self) -> float:
        """Return the absolute change of the feature's share of total attribution."""
        return abs(self.share_current - self.share_reference)


def attribution_shifts(ref: pd.DataFrame, cur: pd.DataFrame, attributions: dict[str, str]) -> list[AttributionShift]:
    """Return one :class:`AttributionShift` per logged attribution column present in both windows, largest first."""
    feats = {f: c for f, c in attributions.items() if c in ref.columns and c in cur.columns}
    if not feats:
        return []
    cols = list(feats.values())
    mr = ref[cols].abs().mean().to_numpy(dtype=float)
    mc = cur[cols].abs().mean().to_numpy(dtype=float)
    sr, sc = mr / max(mr.sum(), 1e-12), mc / max(mc.sum(), 1e-12)
    out = []
    for i, (feat, col) in enumerate(feats.items()):
        a, b = ref[col].dropna().to_numpy(float), cur[col].dropna().to_numpy(float)
        res = stats.ks_2samp(a, b) if len(a) > 1 and len(b) > 1 else None
        out.append(
            AttributionShift(
                feat,
                float(sr[i]),
                float(sc[i]),
                float(res.statistic) if res else 0.0,
                float(res.pvalue) if res else 1.0,
            )
        )
    return sorted(out, key=lambda s: -s.change)


@dataclass(frozen=True)
class Consistency:
    """How many repeated inputs got more than one prediction from the same version."""

    repeated: int
    inconsistent: int
    examples: list[str]

    @property
    def rate(self) -> float:
        """Return the share of repeated ids with differing predictions."""
        return self.inconsistent / self.repeated if self.repeated else 0.0


def consistency(view: pd.DataFrame, digits: int = 6) -> Consistency:
    """Return the consistency of predictions per (``id``, ``version``) of a model view.

    Predictions are compared rounded to ``digits`` decimals, so float noise is not a disagreement.
    """
    if "id" not in view.columns or "prediction" not in view.columns or view.empty:
        return Consistency(0, 0, [])
    pred = view["prediction"]
    if pd.api.types.is_numeric_dtype(pred):
        pred = pred.round(digits)
    keys = [view["id"].astype(str)]
    if "version" in view.columns:
        keys.append(view["version"].astype(str))
    g = pd.DataFrame({"p": pred.to_numpy()}).groupby([k.to_numpy() for k in keys], sort=False)["p"]
    size, distinct = g.size(), g.nunique(dropna=True)
    repeated = size > 1
    bad = repeated & (distinct > 1)
    examples = [str(k[0] if isinstance(k, tuple) else k) for k in bad[bad].index[:5]]
    return Consistency(int(repeated.sum()), int(bad.sum()), examples)


def significant_rise(k_cur: int, n_cur: int, k_ref: int, n_ref: int) -> float:
    """Return the one-sided p of a rise of a rate from reference to current (pooled z; 1.0 if undefined)."""
    if n_cur < 1 or n_ref < 1:
        return 1.0 if n_cur < 1 or k_cur == 0 else 0.0
    p = (k_cur + k_ref) / (n_cur + n_ref)
    se = np.sqrt(max(p * (1 - p), 1e-12) * (1 / n_cur + 1 / n_ref))
    return float(stats.norm.sf((k_cur / n_cur - k_ref / n_ref) / se))
