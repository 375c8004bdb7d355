"""Merge phase findings into ranked, hedged root-cause hypotheses.

Weights, relation priors and domain rules live in ``rules.yaml`` (package data).  For every
candidate component:

* ``support[p]`` is its strongest finding in phase ``p`` (all kinds but informational ones);
  for the component phase that is the unbounded rank score of
  :func:`rcaflows.rca.ranking.rank_components` (``details['rank_score']``), and for a candidate it
  ranked the statistical phase adds sentences but no score: metric evidence counts once, so
  metric-only candidates come out in ``rank_root_causes``' order (symptom relations, rules and the
  other phases add evidence on top); findings with ``supports=False`` subtract; a finding's
  ``contradicting`` sentences are listed against its candidate; kinds listed as contradicting
  (victim, carrier, ...) keep their (already demoted) score but do not count as a supporting phase;
* ``score = relation_weight * sum_p(w_p * support[p] - w_p * against[p]) * prod(rule factors) + sum(rule bonuses)``
  (a rule's ``factor`` defaults to 1: only a carrier rule scales the evidence);
* ``onset`` is the earliest onset among its supporting findings; a candidate that moved more than
  ``onset_tolerance`` after the symptom's onset ranks below every candidate that did not, and is
  refuted beyond ``refute_after``;
* status: refuted (moved clearly after, or no net support), supported (two or more supporting
  phases or a rule fired), weak (one phase);
* confidence = softmax(score / temperature) over all candidates times an agreement factor
  (0.45 for one phase, 0.75 for two, 0.9 for three or more, +0.05 when a rule fired; see rules.yaml): a
  single-phase winner by a thin margin stays low; several phases agreeing with a clear margin
  gets high.  When the symptom itself shows no sustained deviation in the data (and no onset was
  given) every confidence is halved and the hypotheses say so.

Works with any subset of phase results, including failed or skipped phases, and with phases
registered under any name: ``w_p`` is ``rca.phases.<p>.weight`` of the config, else ``phase_weights``
of ``rules.yaml``, else 1 (:func:`rcaflows.rca.registry.phase_weights`; a name in either that no phase
is registered under is a config error). Three built-in phases have a special role: the component
phase's rank score, the statistical phase's sentences-only findings, the lineage phase's blast radius.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from importlib import resources
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import yaml

from rcaflows.config.models import MetricKind
from rcaflows.graph import is_client
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import (
    Finding,
    Hypothesis,
    HypothesisStatus,
    PhaseName,
    PhaseResult,
    PhaseStatus,
    RcaResult,
)
from rcaflows.rca.ranking import fmt_time
from rcaflows.rca.registry import PHASES, phase_weights
from rcaflows.timeutil import parse_duration

MINUTE = pd.Timedelta(minutes=1)
METRIC_BASED = {"metric_shift", "root_candidate", "comoving", "victim", "after_symptom", "lineage_carrier"}


@lru_cache(maxsize=1)
def load_rules() -> dict[str, Any]:
    """Return the synthesis weights and domain rules shipped in ``rules.yaml``."""
    text = resources.files("rcaflows.rca").joinpath("rules.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def relation(ctx: RcaContext, component: str) -> str:
    """Return how ``component`` relates to the symptom's component (a key of ``relation_weights``)."""
    sym = ctx.symptom.component
    if component == sym:
        return "same"
    if is_client(component):
        return "client"
    if component in ctx.graph.upstream(sym):
        return "dependency"
    s_node, c_node = ctx.system.lineage_node_of(sym), ctx.system.lineage_node_of(component)
    if s_node and c_node and c_node in nx.ancestors(ctx.lineage, s_node):
        return "upstream_lineage"
    if component in ctx.graph.downstream(sym):
        return "caller"
    return "unrelated"


def _rule_fires(
    rule: dict[str, Any],
    ctx: RcaContext,
    comp: str,
    rel: str,
    kinds: set[str],
    metric_kinds: set[str],
    all_kinds: set[str],
) -> bool:
    when = rule.get("when", {})
    if "incident_types" in when and str(ctx.symptom.incident_type) not in when["incident_types"]:
        return False
    if "symptom_metric_any" in when:
        m = (ctx.symptom.metric or "").lower()
        if not any(s in m for s in when["symptom_metric_any"]):
            return False
    if "relation_any" in when and rel not in when["relation_any"]:
        return False
    if "component_kinds" in when and ctx.component_kind(comp) not in when["component_kinds"]:
        return False
    if "kinds_any" in when and not kinds & set(when["kinds_any"]):
        return False
    for group in when.get("kinds_all_groups", []):
        if not kinds & set(group):
            return False
    if "kinds_none" in when and kinds & set(when["kinds_none"]):
        return False
    if "metric_kinds_any" in when and not metric_kinds & set(when["metric_kinds_any"]):
        return False
    if "global_kinds_any" in when and not all_kinds & set(when["global_kinds_any"]):
        return False
    return not ("global_kinds_none" in when and all_kinds & set(when["global_kinds_none"]))


def _next_step(ctx: RcaContext, h: Hypothesis, findings: list[Finding], templates: dict[str, str]) -> str:
    key = h.kind
    if key.endswith("_anomaly"):
        key = key[: -len("_anomaly")]
    tpl = templates.get(key) or templates["default"]
    f = next((f for f in findings if f.kind == h.kind), findings[0] if findings else None)
    d = f.details if f is not None else {}
    when = d.get("change_time") or (f.onset if f is not None else None) or h.onset
    values = {
        "component": h.component,
        "metric": (f.metric if f is not None else None) or h.metric or "its metrics",
        "description": d.get("description") or (f.metric if f is not None else "") or "the change",
        "time": fmt_time(pd.Timestamp(when)) if when is not None else "the start of the anomalous period",
        "symptom": f"{ctx.symptom.component}/{ctx.symptom.metric}",
        "node": d.get("node") or ctx.system.lineage_node_of(h.component) or h.component,
    }
    return tpl.format(**values)


def _strength(f: Finding) -> float:
    """Return what a finding adds to its candidate's score (the component phase's shared rank score)."""
    if f.phase == PhaseName.COMPONENT and "rank_score" in f.details:
        return float(f.details["rank_score"])
    return f.score


def synthesize(ctx: RcaContext, results: list[PhaseResult]) -> RcaResult:
    """Merge ``results`` (any subset of phases, failed ones included) into an :class:`RcaResult`."""
    cfg = load_rules()
    weights = phase_weights(ctx.config, cfg["phase_weights"])
    contra = set(cfg["contradicting_kinds"])
    info = set(cfg["informational_kinds"])
    min_support = float(cfg["min_support"])
    tol = pd.Timedelta(parse_duration(cfg["onset_tolerance"]))
    refute = pd.Timedelta(parse_duration(cfg["refute_after"]))
    ok = [r for r in results if r.status == PhaseStatus.OK]
    all_findings = [f for r in ok for f in r.findings if f.kind not in info]
    all_kinds = {f.kind for f in all_findings if f.supports and f.score >= min_support}
    # Metric evidence counts once: a candidate the component phase ranked (rank_root_causes' order)
    # takes its metric score from there; its statistical findings only add sentences.
    metric_ranked = {f.component for r in ok if r.phase == PhaseName.COMPONENT for f in r.findings}
    by_comp: dict[str, list[Finding]] = defaultdict(list)
    for f in all_findings:
        by_comp[f.component].append(f)
    try:
        s_onset = ctx.symptom_onset
    except Exception:  # the analysis failed (bad data): rank without the onset constraint
        s_onset = None
    rows: list[dict[str, Any]] = []
    for comp, fs in by_comp.items():
        support: dict[str, float] = defaultdict(float)
        against: dict[str, float] = defaultdict(float)
        phases: set[str] = set()
        supporting: list[tuple[float, str]] = []
        contradicting: list[str] = []
        onsets = []
        kinds: set[str] = set()
        metric_kinds: set[str] = set()
        for f in fs:
            if not f.supports:
                against[f.phase] = max(against[f.phase], f.score)
                contradicting += f.evidence + f.contradicting
                continue
            contradicting += f.contradicting
            if not (comp in metric_ranked and f.phase == PhaseName.STATISTICAL):
                support[f.phase] = max(support[f.phase], _strength(f))
            if f.kind in contra:
                if not f.contradicting:
                    contradicting += f.evidence[1:] or f.evidence
                continue
            if f.score >= min_support:
                phases.add(f.phase)
                kinds.add(f.kind)
                if f.kind in METRIC_BASED and f.metric:
                    metric_kinds.add(str(ctx.metric_kind(comp, f.metric)))
                if f.onset is not None:
                    onsets.append(pd.Timestamp(f.onset))
            supporting += [(f.score, e) for e in f.evidence]
        rel = relation(ctx, comp)
        base = sum(weights.get(p, 1.0) * s for p, s in support.items()) - sum(
            weights.get(p, 1.0) * s for p, s in against.items()
        )
        base *= float(cfg["relation_weights"].get(rel, 1.0))
        fired = [r for r in cfg["rules"] if _rule_fires(r, ctx, comp, rel, kinds, metric_kinds, all_kinds)]
        # a rule's factor scales the evidence (a carrier's is cut), its bonus adds to it
        score = base * float(np.prod([float(r.get("factor", 1.0)) for r in fired])) + sum(
            float(r["bonus"]) for r in fired
        )
        onset = min(onsets) if onsets else None
        if onset is None:
            metric_onsets = [pd.Timestamp(f.onset) for f in fs if f.supports and f.onset is not None]
            onset = min(metric_onsets) if metric_onsets else None
        late = onset is not None and s_onset is not None and onset - s_onset > tol
        refuted = (onset is not None and s_onset is not None and onset - s_onset > refute) or score <= 0
        if refuted and onset is not None and s_onset is not None and onset - s_onset > refute:
            contradicting.append(
                f"{comp} moved at {fmt_time(onset)} UTC, {(onset - s_onset) / MINUTE:.0f} min after the symptom's onset"
            )
        best = sorted(
            (f for f in fs if f.supports and f.kind not in contra),
            key=lambda f: -f.score * weights.get(f.phase, 1.0),
        )
        kind = next((k for k in cfg["cause_kinds"] if k in kinds), None)
        if kind is None and best:
            top = best[0]
            kind = top.kind
            if top.kind in METRIC_BASED and top.metric:
                # name the kind after the strongest metric of a declared kind when there is one
                typed = [
                    f
                    for f in best
                    if f.kind in METRIC_BASED and f.metric and ctx.metric_kind(comp, f.metric) != MetricKind.OTHER
                ]
                chosen = typed[0] if typed and typed[0].score >= 0.5 * top.score else top
                kind = f"{ctx.metric_kind(comp, chosen.metric)}_anomaly"
                best.remove(chosen)
                best.insert(0, chosen)
        elif kind is None:
            kind = fs[0].kind
        # the metric that moved, else the one the dominant kind is about (a feature, a change kind); a
        # cause located inside a model (its version, arm, slice or a feature's attribution) names where
        located = kind in cfg.get("located_kinds", ())
        metric = next((f.metric for f in best if located and f.kind == kind and f.metric), None) or next(
            (f.metric for f in best if f.kind in METRIC_BASED and f.metric),
            next((f.metric for f in best if f.kind == kind), best[0].metric if best else fs[0].metric),
        )
        rows.append(
            {
                "component": comp,
                "score": float(score),
                "late": late,
                "refuted": refuted,
                "phases": phases,
                "rules": [r["name"] for r in fired],
                "onset": onset,
                "kind": kind,
                "metric": metric,
                "supporting": [e for _, e in sorted(supporting, key=lambda t: -t[0])],
                "contradicting": list(dict.fromkeys(contradicting)),
                "findings": best or fs,
                "relation": rel,
            }
        )
    rows.sort(key=lambda r: (r["late"], r["refuted"], -r["score"]))
    # A symptom the data does not show cannot be explained with confidence.
    unseen = (
        f"the symptom {ctx.symptom.component}/{ctx.symptom.metric} shows no sustained deviation in the window"
        if s_onset is None
        else ""
    )
    hyps: list[Hypothesis] = []
    order = {name: i for i, name in enumerate(PHASES)}  # supporting phases listed in registry order
    if rows:
        scores = np.array([r["score"] for r in rows])
        w = np.exp((scores - scores.max()) / float(cfg["temperature"]))
        p = w / w.sum()
        agreement = cfg["agreement"]
        for i, r in enumerate(rows):
            a = float(agreement[min(len(r["phases"]), len(agreement) - 1)])
            if r["rules"]:
                a = min(1.0, a + float(cfg["rule_agreement_bonus"]))
            conf = float(p[i] * a)
            if unseen:
                conf *= float(cfg["unseen_symptom_factor"])
                r["contradicting"].insert(0, unseen)
            if not r["phases"] and r["contradicting"]:
                r["refuted"] = True
            if r["refuted"]:
                status = HypothesisStatus.REFUTED
                conf = min(conf, 0.05)
            elif len(r["phases"]) >= 2 or r["rules"]:
                status = HypothesisStatus.SUPPORTED
            else:
                status = HypothesisStatus.WEAK
            if r["relation"] != "same" and r["relation"] in ("caller", "unrelated"):
                r["contradicting"].append(f"{r['component']} is {r['relation']} to {ctx.symptom.component}")
            hyps.append(
                Hypothesis(
                    rank=i + 1,
                    component=r["component"],
                    metric=r["metric"],
                    kind=r["kind"],
                    score=round(r["score"], 4),
                    confidence=float(np.clip(conf, 0.0, 1.0)),
                    status=status,
                    onset=None if r["onset"] is None else r["onset"].to_pydatetime(),
                    phases=sorted(r["phases"], key=lambda p: (order.get(p, len(order)), p)),
                    supporting=r["supporting"][:8],
                    contradicting=r["contradicting"][:6],
                    rules=r["rules"],
                )
            )
    lineage = next((r for r in ok if r.phase == PhaseName.LINEAGE), None)
    roots = [h.component for h in hyps[:1] if h.status != HypothesisStatus.REFUTED]
    radius = ctx.graph.blast_radius([*roots, ctx.symptom.component], causes=roots)
    if lineage is not None and not roots:
        radius = list(lineage.details.get("blast_radius", radius))
    templates = cfg["next_steps"]
    steps: list[str] = []
    top_score = hyps[0].score if hyps else 0.0
    for h, r in zip(hyps, rows, strict=True):
        if h.status == HypothesisStatus.REFUTED or len(steps) >= 3:
            continue
        if steps and (h.score < 0.5 * top_score or h.status != HypothesisStatus.SUPPORTED):
            continue
        step = _next_step(ctx, h, r["findings"], templates)
        if step not in steps:
            steps.append(step)
    failed = [r for r in results if r.status != PhaseStatus.OK]
    if failed:
        steps.append(
            "Re-run or inspect the phase(s) that did not complete: "
            + ", ".join(f"{r.phase} ({r.error or r.status})" for r in failed)
        )
    return RcaResult(
        symptom=ctx.symptom.model_copy(
            update={"onset": ctx.symptom.onset or (None if s_onset is None else s_onset.to_pydatetime())}
        ),
        phases=list(results),
        hypotheses=hyps,
        blast_radius=radius,
        next_steps=steps,
        window_start=ctx.data.start,
        window_end=ctx.data.end,
    )
