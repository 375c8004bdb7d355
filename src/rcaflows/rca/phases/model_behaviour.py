"""Model-behaviour phase: did the inputs change, or the model itself?

Reference predictions (the explicit baseline, else the rows before the analysis split) are
compared with current ones (from the symptom onset):

* **Client OOD**: rows whose features sit beyond ``detectors.security_adversarial.ood_z`` robust
  sigmas of the reference, counted per client; a client sending mostly such rows is reported
  (``client_ood``) and its rows are left out of the feature-drift test, so one flooding client
  does not look like every source drifting.
* **Feature drift** with :func:`rcaflows.detection.stats.detect_drift` (KS / chi-square / null
  share, Benjamini-Hochberg); each drifted feature is mapped to the most upstream lineage node that
  lists it and reported on that node's component (``feature_drift`` or ``feature_nulls``).
* **Prediction drift** (KS of scores) and **confidence shift** (KS of ``|score - 0.5| * 2``).
* **Segments**: per-group false-positive rate and positive rate (two-proportion z-test); a
  change confined to some groups (``segment_shift``) points at the model when no feature drifted.
* **Versions, arms and slices**: on labelled rows, the slice search of
  :mod:`rcaflows.model.slices` over 1-3-way intersections of the group, version and arm columns
  (Benjamini-Hochberg over every slice tried); a slice worse than it was in the reference while
  the rest of the window is not is reported (``version_regression``, ``arm_regression`` or
  ``slice_regression``) with the version comparison of :mod:`rcaflows.model.compare`.
* **Logged attributions and consistency** (:mod:`rcaflows.model.behaviour`): a feature's share
  of the logged attribution moving (``attribution_drift``), and repeated inputs getting different
  predictions from one version (``inconsistent_predictions``).
* **Attribution** (cheap proxy, when no attribution columns are logged): the change of each
  feature's Pearson correlation with the score, plus that of the group indicator; a large change
  on an undrifted input means the model's mapping changed (``attribution_shift``).

Model-side findings are scored down when features drifted, because input drift explains them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from scipy import stats

from rcaflows.config.models import ModelConfig
from rcaflows.detection.stats import detect_drift
from rcaflows.graph import client_node
from rcaflows.model.behaviour import attribution_shifts, consistency, significant_rise
from rcaflows.model.compare import compare_column, row_loss
from rcaflows.model.log import labelled, log_notes, log_problems, model_view, slice_columns
from rcaflows.model.metrics import MetricUnavailable
from rcaflows.model.proportions import two_proportion_z
from rcaflows.model.slices import _z, search, sf
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import Finding, PhaseName, PhaseResult, PhaseStatus
from rcaflows.rca.ranking import fmt_num, fmt_time, onset_or_none

MIN_REFERENCE = 200
#: Reference rows the OOD location and scale are estimated from (an even stride beyond it).
MAX_OOD_REFERENCE = 100_000
MIN_CURRENT = 50


def _effect_score(effect: float) -> float:
    return float(1.0 - np.exp(-max(effect, 0.0) / 0.3))


class ModelBehaviourPhase:
    """Separate input problems (drift, nulls, OOD clients) from model problems (segments, attribution)."""

    name = PhaseName.MODEL_BEHAVIOUR

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return findings on source components, clients and each model's component.

        Every model is analysed on its own rows; with several, each finding names its model
        (``details["model"]``) and the phase's details are keyed by model name.
        """
        models = ctx.config.models
        if not models:
            return PhaseResult(phase=self.name, status=PhaseStatus.SKIPPED, error="no model configured")
        if len(models) == 1:
            return self._one(ctx, models[0])
        results = {m.name: self._one(ctx, m) for m in models}
        done = {n: r for n, r in results.items() if r.status == PhaseStatus.OK}
        if not done:
            why = "; ".join(f"model {n}: {r.error}" for n, r in results.items())
            return PhaseResult(phase=self.name, status=PhaseStatus.SKIPPED, error=why)
        findings = [
            f.model_copy(
                update={
                    "details": {**f.details, "model": n},
                    "evidence": [f"model {n}: {e}" for e in f.evidence[:1]] + f.evidence[1:],
                }
            )
            for n, r in done.items()
            for f in r.findings
        ]
        return PhaseResult(
            phase=self.name,
            status=PhaseStatus.OK,
            findings=sorted(findings, key=lambda f: -f.score),
            summary="; ".join(f"model {n}: {r.summary or r.error}" for n, r in results.items()),
            details={
                "models": {
                    n: r.details if r.status == PhaseStatus.OK else {"skipped": r.error} for n, r in results.items()
                }
            },
        )

    def _one(self, ctx: RcaContext, model: ModelConfig) -> PhaseResult:
        """Return the findings of one model's rows (see :meth:`run`)."""
        ref, cur = ctx.split_predictions(model)
        if len(ref) < MIN_REFERENCE or len(cur) < MIN_CURRENT:
            return PhaseResult(
                phase=self.name,
                status=PhaseStatus.SKIPPED,
                error=f"too few predictions (reference {len(ref)}, current {len(cur)})",
            )
        feats = [f for f in model.features if f in ref.columns and f in cur.columns]
        # the z-scores and correlations below are numeric; a categorical feature is left to the drift tests
        numeric = [f for f in feats if is_numeric_dtype(ref[f]) and is_numeric_dtype(cur[f])]
        onset = ctx.reference_time
        findings: list[Finding] = []
        details: dict[str, Any] = {"n_reference": len(ref), "n_current": len(cur)}

        # --- OOD inputs per client -------------------------------------------------------------
        excluded: list[str] = []
        ccol = model.client_column
        if numeric and ccol in cur.columns:
            # robust location/scale from an even stride of at most MAX_OOD_REFERENCE rows: quantiles of
            # 100k rows are as good as of a million, and the sort is the phase's largest cost
            step = max(1, -(-len(ref) // MAX_OOD_REFERENCE))
            rv = ref[numeric].iloc[::step].to_numpy(dtype=float, na_value=np.nan)
            med = np.nanmedian(rv, axis=0)
            q75, q25 = np.nanpercentile(rv, [75, 25], axis=0)
            scale = np.where((q75 - q25) > 0, (q75 - q25) / 1.349, np.nanstd(rv, axis=0) + 1e-9)
            cz = np.abs((cur[numeric].to_numpy(dtype=float, na_value=np.nan) - med) / scale)
            ood_z = ctx.config.detectors.security_adversarial.ood_z
            ood = np.nan_to_num(cz, nan=0.0).max(axis=1) > ood_z
            rz = np.abs((rv - med) / scale)
            ref_rate = float((np.nan_to_num(rz, nan=0.0).max(axis=1) > ood_z).mean())
            per = pd.DataFrame({"client": cur[ccol].astype(str).to_numpy(), "ood": ood}).groupby("client")["ood"]
            rate, n = per.mean(), per.size()
            ref_clients = set(ref[ccol].astype(str).unique())
            total_ood, total_n = float(ood.sum()), len(ood)
            for client in rate.index:
                r, k = float(rate[client]), int(n[client])
                # the rate of every other client: a flood is concentrated in one client
                rest = (total_ood - r * k) / max(total_n - k, 1)
                if k >= 20 and r >= max(0.3, 5 * ref_rate, 3 * rest):
                    excluded.append(client)
                    new = client not in ref_clients
                    first = cur.loc[cur[ccol].astype(str) == client, "timestamp"].min()
                    findings.append(
                        Finding(
                            phase=self.name,
                            component=client_node(str(client)),
                            metric="ood_rate",
                            kind="client_ood",
                            score=float(min(1.0, r / 0.5)) * (1.0 if new else 0.8),
                            onset=onset_or_none(first),
                            evidence=[
                                f"{r:.0%} of {k} requests from {'new ' if new else ''}client {client} are "
                                f"out of distribution (any feature beyond {ood_z:g} robust sigma; reference "
                                f"rate {ref_rate:.1%})"
                            ],
                            details={
                                "ood_rate": r,
                                "requests": k,
                                "reference_ood_rate": ref_rate,
                                "new_client": new,
                            },
                        )
                    )
        cur_in = cur[~cur[ccol].astype(str).isin(excluded)] if excluded else cur

        # --- feature drift, mapped to the producing lineage node --------------------------------
        dq = ctx.config.detectors.data_quality
        drift = (
            detect_drift(ref[feats], cur_in[feats], alpha=dq.drift_alpha, min_effect=dq.drift_min_effect, columns=feats)
            if feats
            else pd.DataFrame()
        )
        drifted = drift[drift["drifted"]] if not drift.empty else drift
        if not drifted.empty:
            # A feature that drifts as much inside the reference (time of day, trends) is not news.
            cut = len(ref) - max(len(cur_in), len(ref) // 5)
            cols = drifted["column"].tolist()
            within = detect_drift(
                ref.iloc[:cut][cols],
                ref.iloc[cut:][cols],
                alpha=dq.drift_alpha,
                min_effect=dq.drift_min_effect,
                columns=cols,
            ).set_index("column")
            seasonal = [
                c
                for c, e in zip(drifted["column"], drifted["effect"], strict=True)
                if bool(within.loc[c, "drifted"]) and float(within.loc[c, "effect"]) >= 0.5 * float(e)
            ]
            details["drifting_within_reference"] = seasonal
            drifted = drifted[~drifted["column"].isin(seasonal)]
        details["drifted_features"] = [] if drifted.empty else drifted["column"].tolist()
        for _, row in drifted.iterrows():
            col = str(row["column"])
            node = ctx.system.column_origin(col)
            comp = ctx.lineage.nodes[node].get("component") if node else None
            comp = comp or model.component
            a, b = ref[col], cur_in[col]
            null_a, null_b = float(a.isna().mean()), float(b.isna().mean())
            if row["method"] == "null_rate" or null_b - null_a >= 0.05:
                kind = "feature_nulls"
                what = f"null share of feature {col} rose from {null_a:.1%} to {null_b:.1%}"
                effect = max(float(row["effect"]), null_b - null_a)
            else:
                kind = "feature_drift"
                what = (
                    f"feature {col} drifted ({row['method']} statistic {fmt_num(row['statistic'])}, effect "
                    f"{fmt_num(row['effect'])}): median {fmt_num(a.median())} -> {fmt_num(b.median())}"
                )
                effect = float(row["effect"])
            # when the drift is first visible: first minute whose mean/null share leaves the reference
            findings.append(
                Finding(
                    phase=self.name,
                    component=str(comp),
                    metric=col,
                    kind=kind,
                    score=_effect_score(effect),
                    onset=onset_or_none(onset),
                    evidence=[f"{what}; produced upstream by {node or 'an unknown node'} ({comp})"],
                    details={
                        "method": row["method"],
                        "effect": float(row["effect"]),
                        "p_value": float(row["p_value"]),
                        "node": node,
                        "null_reference": null_a,
                        "null_current": null_b,
                    },
                )
            )
        has_drift = not drifted.empty
        model_factor = 0.35 if has_drift else 1.0

        # --- predictions and confidence ----------------------------------------------------------
        if "score" in cur.columns:
            s_ref, s_cur = ref["score"].dropna().to_numpy(float), cur_in["score"].dropna().to_numpy(float)
            if len(s_ref) > 1 and len(s_cur) > 1:
                c_ref, c_cur = np.abs(s_ref - 0.5) * 2, np.abs(s_cur - 0.5) * 2  # confidence of a binary score
                ks, cks = stats.ks_2samp(s_ref, s_cur), stats.ks_2samp(c_ref, c_cur)
                details.update(score_ks=float(ks.statistic), confidence_ks=float(cks.statistic))
                if ks.pvalue < 1e-3 and ks.statistic >= 0.05:
                    note = "; input drift explains part of it" if has_drift else "; no input feature drifted"
                    findings.append(
                        self._ks_shift(model, "score", "prediction_drift", ks, s_ref, s_cur, onset, model_factor, note)
                    )
                sec = ctx.config.detectors.security_adversarial
                if cks.pvalue < 1e-3 and cks.statistic >= sec.confidence_effect:
                    findings.append(
                        self._ks_shift(model, "confidence", "confidence_shift", cks, c_ref, c_cur, onset, model_factor)
                    )

        # --- segments ----------------------------------------------------------------------------
        gcol = model.group_column
        seg_changes: list[tuple[str, float, float, float, str]] = []
        if gcol in cur.columns and "prediction" in cur.columns:
            rg, cg = ref[gcol].astype(str), cur_in[gcol].astype(str)  # once, not per group
            for metric_name, frame_filter in (("fpr", "neg"), ("positive_rate", "all")):
                for grp in sorted(set(rg.unique()) | set(cg.unique())):
                    r = ref[(rg == grp).to_numpy()]
                    c = cur_in[(cg == grp).to_numpy()]
                    if frame_filter == "neg":
                        r, c = r[r["label"] == 0], c[c["label"] == 0]
                    if len(r) < 30 or len(c) < 30:
                        continue
                    k1, k2 = float(r["prediction"].sum()), float(c["prediction"].sum())
                    z = float(two_proportion_z(k1, float(len(r)), k2, float(len(c))))
                    seg_changes.append((grp, k1 / len(r), k2 / len(c), z, metric_name))
            sig = [s for s in seg_changes if abs(s[3]) >= 4 and s[4] == "fpr"] or [
                s for s in seg_changes if abs(s[3]) >= 4
            ]
            groups = {s[0] for s in seg_changes}
            moved = {s[0] for s in sig}
            if (sig and moved != groups) or (sig and len(groups) == 1):
                worst = max(sig, key=lambda s: abs(s[3]))
                score = float(min(1.0, abs(worst[3]) / 10)) * model_factor
                findings.append(
                    Finding(
                        phase=self.name,
                        component=model.component,
                        metric=f"{worst[4]}[group={worst[0]}]",
                        kind="segment_shift",
                        score=score,
                        onset=onset_or_none(onset),
                        evidence=[
                            f"{worst[4]} of group {worst[0]} moved {worst[1]:.1%} -> {worst[2]:.1%} "
                            f"(z {worst[3]:.1f}) while {', '.join(sorted(groups - moved)) or '-'} did not"
                            + ("" if has_drift else "; no input feature drifted, so the model itself changed")
                        ],
                        details={"segments": [list(s) for s in seg_changes], "feature_drift": has_drift},
                    )
                )

        # --- versions, arms and slices on labelled rows -------------------------------------------
        findings += self._slices(ctx, model, ref, cur_in, details, model_factor, onset)
        findings += self._logged(model, ref, cur_in, details, model_factor, onset)

        # --- attribution proxy: correlation of each input with the score --------------------------
        # logged attributions beat a proxy; declared but absent from this log, the proxy stands in
        logged = any(c in cur.columns for c in model.log.attributions.values())
        if "score" in cur.columns and numeric and not logged:
            cols = list(numeric)
            r_df, c_df = ref[cols].astype(float), cur_in[cols].astype(float)
            if gcol in cur.columns:
                for g in sorted(set(ref[gcol].astype(str).unique()))[1:]:
                    name = f"group={g}"
                    r_df = r_df.assign(**{name: (ref[gcol].astype(str) == g).astype(float)})
                    c_df = c_df.assign(**{name: (cur_in[gcol].astype(str) == g).astype(float)})
                    cols.append(name)
            cr = _corr_with(r_df, ref["score"].to_numpy(dtype=float))
            cc = _corr_with(c_df, cur_in["score"].to_numpy(dtype=float))
            delta = (cc - cr).abs().fillna(0.0)
            undrifted = [c for c in cols if c not in set(details["drifted_features"])]
            if undrifted:
                top = str(delta[undrifted].idxmax())
                d = float(delta[top])
                details["attribution_delta"] = {k: round(float(v), 4) for k, v in delta.items()}
                if d >= 0.15:
                    findings.append(
                        Finding(
                            phase=self.name,
                            component=model.component,
                            metric=top,
                            kind="attribution_shift",
                            score=float(min(1.0, d / 0.4)) * model_factor,
                            onset=onset_or_none(onset),
                            evidence=[
                                f"correlation of {top} with the score changed {cr[top]:.2f} -> {cc[top]:.2f} "
                                "although its distribution did not drift: the model's mapping changed"
                            ],
                            details={
                                "feature": top,
                                "corr_reference": float(cr[top]),
                                "corr_current": float(cc[top]),
                            },
                        )
                    )
        top_slice = next((f for f in findings if f.kind in SLICE_KINDS), None)
        summary = (
            f"{len(details['drifted_features'])} drifted feature(s)"
            + (f", worst slice {top_slice.metric}" if top_slice else "")
            + (f", OOD clients {', '.join(excluded)}" if excluded else "")
            + f"; reference {len(ref)} rows, current {len(cur)} rows from {fmt_time(onset)} UTC"
        )
        return PhaseResult(phase=self.name, status=PhaseStatus.OK, findings=findings, summary=summary, details=details)

    def _ks_shift(
        self,
        model: ModelConfig,
        metric: str,
        kind: str,
        ks: Any,
        before: np.ndarray,
        after: np.ndarray,
        onset: Any,
        factor: float,
        note: str = "",
    ) -> Finding:
        """Return the finding that the model's ``metric`` distribution moved (two-sample KS result ``ks``)."""
        what = {"score": "score distribution", "confidence": "prediction confidence"}.get(metric, metric)
        return Finding(
            phase=self.name,
            component=model.component,
            metric=metric,
            kind=kind,
            score=float(min(1.0, ks.statistic / 0.3)) * factor,
            onset=onset_or_none(onset),
            evidence=[
                f"{what} moved (KS {ks.statistic:.2f}, p={ks.pvalue:.1e}); mean "
                f"{before.mean():.3f} -> {after.mean():.3f}{note}"
            ],
            details={"ks": float(ks.statistic), "p_value": float(ks.pvalue)},
        )

    def _slices(
        self,
        ctx: RcaContext,
        model: ModelConfig,
        ref: pd.DataFrame,
        cur: pd.DataFrame,
        details: dict[str, Any],
        factor: float,
        onset: Any,
    ) -> list[Finding]:
        """Return the slices (version, arm or group intersections) that carry a quality drop confined to them."""
        a = model.analysis
        details["log_notes"] = log_problems(cur, model) + log_notes(pd.concat([ref, cur]), model)
        as_of = pd.Timestamp(ctx.data.end)
        lab_c = labelled(model_view(cur, model, features=False), as_of)
        lab_r = labelled(model_view(ref, model, features=False), as_of)
        if len(lab_c) < a.min_slice_rows or len(lab_r) < a.min_slice_rows:
            details["slices"] = {"skipped": f"{len(lab_c)} labelled current rows, {len(lab_r)} reference"}
            return []
        try:
            loss_c, name = row_loss(lab_c, model)
            loss_r, _ = row_loss(lab_r, model)
        except MetricUnavailable as exc:
            details["slices"] = {"skipped": str(exc)}
            return []
        res = search(
            lab_c,
            loss_c,
            slice_columns(model),
            max_order=a.max_order,
            min_rows=a.min_slice_rows,
            fdr=a.slice_fdr,
            min_lift=a.min_slice_lift,
            relative=model.task == "regression",
        )
        comparisons: dict[str, Any] = {}
        for col in (model.log.version, model.log.arm):
            if col and col in lab_c.columns:
                cmp = compare_column(lab_c, lab_r, col, model)
                comparisons[col] = cmp.problem or {"baseline": cmp.baseline, "loss": cmp.loss_name, "values": cmp.rows}
        details["comparisons"] = comparisons
        details["slices"] = {
            "loss": name,
            "tried": res.tried,
            "significant": res.significant,
            "too_small": res.too_small,
            "skipped_columns": res.skipped_columns,
            "found": [
                {"slice": sl.label, "n": sl.n, "loss": sl.loss, "rest": sl.rest_loss, "z": sl.z, "q": sl.q_value}
                for sl in res.found
            ],
        }
        out = []
        for sl in res.found[:3]:
            m_c, m_r = _slice_mask(lab_c, sl.conditions), _slice_mask(lab_r, sl.conditions)
            # Baseline: for a version/arm slice, the same segment served by the other versions (arms)
            # now: champion vs challenger, immune to a reference the rollout already reached; else
            # the slice in the reference, where a hard segment is already as bad.
            vs, base = "", loss_r
            for col in (model.log.version, model.log.arm):
                if not col or not isinstance(comparisons.get(col), dict) or col not in dict(sl.conditions):
                    continue
                rest_conds = tuple((c, v) for c, v in sl.conditions if c != col)
                m_b = _slice_mask(lab_c, rest_conds) & ~_slice_mask(lab_c, ((col, dict(sl.conditions)[col]),))
                if m_b.sum() >= 30:
                    base = loss_c[m_b]
                    where = ",".join([*(f"{c}={v}" for c, v in rest_conds), f"{col}!={dict(sl.conditions)[col]}"])
                    vs = f"{fmt_num(float(base.mean()))} for {where} in the same window"
                    break
            if not vs:
                new = int(m_r.sum()) < 30
                base = loss_r if new else loss_r[m_r]
                vs = (
                    "the whole reference (new in this window)"
                    if new
                    else f"{fmt_num(float(base.mean()))} in the reference"
                )
            mine, rest = loss_c[m_c], loss_c[~m_c]
            z_time = _z(mine.sum(), (mine**2).sum(), len(mine), base.sum(), (base**2).sum(), len(base))
            z_rest = _z(rest.sum(), (rest**2).sum(), len(rest), loss_r.sum(), (loss_r**2).sum(), len(loss_r))
            if sf(z_time) >= a.slice_fdr or z_rest >= 3.0:
                continue  # not worse than before, or not confined: the whole model moved
            cols = {c for c, _ in sl.conditions}
            kind = (
                "version_regression"
                if model.log.version in cols
                else "arm_regression"
                if model.log.arm in cols
                else "slice_regression"
            )
            out.append(
                Finding(
                    phase=self.name,
                    component=model.component,
                    metric=f"{name}[{sl.label}]",
                    kind=kind,
                    score=float(min(1.0, z_time / 10)) * factor,
                    onset=onset_or_none(onset),
                    evidence=[
                        f"{name} of slice {sl.label} is {fmt_num(sl.loss)} on {sl.n} labelled rows vs "
                        f"{fmt_num(sl.rest_loss)} in the rest of the window and {vs} (z {z_time:.1f}); "
                        f"q {sl.q_value:.1e} among {res.tried} slices tried (Benjamini-Hochberg at {a.slice_fdr:g})",
                        *_comparison_lines(comparisons, [c for c, _ in sl.conditions], name),
                    ],
                    details={
                        "slice": dict(sl.conditions),
                        "n": sl.n,
                        "loss": sl.loss,
                        "rest_loss": sl.rest_loss,
                        "baseline_loss": float(base.mean()),
                        "z_vs_reference": z_time,
                        "q_value": sl.q_value,
                        "comparison": (
                            comparisons.get(model.log.version or "") if kind == "version_regression" else None
                        ),
                    },
                )
            )
        return out

    def _logged(
        self,
        model: ModelConfig,
        ref: pd.DataFrame,
        cur: pd.DataFrame,
        details: dict[str, Any],
        factor: float,
        onset: Any,
    ) -> list[Finding]:
        """Return attribution drift (logged attributions) and inconsistent predictions (logged input ids)."""
        out = []
        drifted = set(details.get("drifted_features", []))
        shifts = [a for a in attribution_shifts(ref, cur, model.log.attributions) if a.feature not in drifted]
        if shifts:
            details["attribution_shares"] = {
                a.feature: [round(a.share_reference, 4), round(a.share_current, 4)] for a in shifts
            }
            # the feature whose attributions changed, not the ones whose share fell in consequence
            moved = [a for a in shifts if a.p_value < 1e-3]
            top = moved[0] if moved else shifts[0]
            if top.change >= 0.1 and top.p_value < 1e-3:
                out.append(
                    Finding(
                        phase=self.name,
                        component=model.component,
                        metric=top.feature,
                        kind="attribution_drift",
                        score=float(min(1.0, top.change / 0.3)) * factor,
                        onset=onset_or_none(onset),
                        evidence=[
                            f"logged attribution of {top.feature} moved from {top.share_reference:.0%} to "
                            f"{top.share_current:.0%} of the total (KS {top.ks:.2f}) although the feature did not "
                            "drift: the model uses it differently"
                        ],
                        details={"share_reference": top.share_reference, "share_current": top.share_current},
                    )
                )
        if model.log.id:
            c_now = consistency(model_view(cur, model, features=False))
            c_ref = consistency(model_view(ref, model, features=False))
            details["consistency"] = {
                "current": [c_now.inconsistent, c_now.repeated],
                "reference": [c_ref.inconsistent, c_ref.repeated],
            }
            p = significant_rise(c_now.inconsistent, c_now.repeated, c_ref.inconsistent, c_ref.repeated)
            if c_now.inconsistent >= 5 and c_now.rate >= 0.01 + 2 * c_ref.rate and p < 1e-3:
                out.append(
                    Finding(
                        phase=self.name,
                        component=model.component,
                        metric="prediction_consistency",
                        kind="inconsistent_predictions",
                        score=float(min(1.0, c_now.rate / 0.1)),
                        onset=onset_or_none(onset),
                        evidence=[
                            f"{c_now.inconsistent} of {c_now.repeated} repeated inputs got different predictions "
                            f"from the same version ({c_now.rate:.1%} vs {c_ref.rate:.1%} in the reference), "
                            f"e.g. {', '.join(c_now.examples[:3])}"
                        ],
                        details={"rate": c_now.rate, "reference_rate": c_ref.rate, "examples": c_now.examples},
                    )
                )
        return out


def _corr_with(frame: pd.DataFrame, y: np.ndarray) -> pd.Series:
    """Return each column's Pearson correlation with ``y`` over pairwise-complete rows (as ``corrwith``)."""
    out = {}
    y_ok = np.isfinite(y)
    for col in frame.columns:
        x = frame[col].to_numpy(dtype=float, na_value=np.nan)
        ok = y_ok & np.isfinite(x)
        if ok.sum() < 2:
            out[col] = np.nan
            continue
        xc, yc = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
        # einsum, not BLAS dot: a threaded BLAS spins on a busy shared box for vectors this small
        den = np.sqrt(np.einsum("i,i->", xc, xc) * np.einsum("i,i->", yc, yc))
        out[col] = float(np.einsum("i,i->", xc, yc) / den) if den > 0 else np.nan
    return pd.Series(out, dtype=float)


def _comparison_lines(comparisons: dict[str, Any], columns: list[str], loss: str) -> list[str]:
    """Return one evidence line per compared column (version, arm) in the slice: each value vs the baseline."""
    out = []
    for col in columns:
        cmp_ = comparisons.get(col)
        if not isinstance(cmp_, dict):
            continue
        parts = [
            f"{r['value']} {fmt_num(r['loss'])} on {r['n']} rows"
            + ("" if r["value"] == cmp_["baseline"] else f" (z {r['z']:.1f}, q {r['q_value']:.1e})")
            for r in cmp_["values"]
        ]
        out.append(
            f"{col} comparison, {loss} over all labelled rows (baseline {cmp_['baseline']}): " + "; ".join(parts)
        )
    return out


#: Finding kinds of the slice search, worst first in the phase summary.
SLICE_KINDS = ("version_regression", "arm_regression", "slice_regression")


def _slice_mask(frame: pd.DataFrame, conditions: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Return the rows of ``frame`` in the slice (values compared as the search names them)."""
    mask = np.ones(len(frame), dtype=bool)
    for col, val in conditions:
        codes, uniq = pd.factorize(frame[col])
        names = ["<missing>", *(str(u) for u in uniq)]  # code -1 is a missing value
        hit = [i - 1 for i, name in enumerate(names) if name == val]
        mask &= np.isin(codes, hit)
    return mask
