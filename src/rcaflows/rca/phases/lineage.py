"""Lineage phase: walk upstream for the node that explains the symptom, downstream for the blast radius.

The symptom's component maps to a lineage node (through its topology dependencies when it has
none).  Every upstream node (``nx.ancestors``) is scored by its component's pipeline metrics
(null rate, row count, freshness; shared robust scores) and by failed data-quality checks that
name it, its component, its columns or a ``details["source_component"]``.  Anomalous nodes get a
bonus for being further upstream; a node whose anomalous upstream node moved no later is only a
*carrier* of the problem (score cut).  The downstream walk gives the blast radius
(:meth:`rcaflows.graph.SystemGraph.blast_radius`): the models, serving endpoints and consumers the
problem reaches, then the components that depend on them.

Training data (issue 16 item 5): when the symptom is on or downstream of a model whose
``model.training`` is declared, every model version serving the rows after the split is linked
to the training batch(es) it was trained on (``training.versions`` / ``training.version_column``),
and each batch is judged again by the training detectors' checks
(:func:`rcaflows.detection.detectors.training_data.training_checks`: expectation suite, conflicting
labels, flipped duplicates, source burst, each against the batches before it). A batch that fails
is a ``training_batch`` candidate on the training node's component, with the version's share of the
rows and the failed checks as evidence (the rules in ``rules.yaml`` then credit the batch and not the
model's deploy that carried it); the batch of a version that already served before the onset is a
weaker ``training_batch_prior`` candidate (half the score, no rule).
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from rcaflows.config.models import MetricKind, ModelConfig
from rcaflows.detection.detectors.training_data import training_batches, training_checks, training_component
from rcaflows.errors import DataError
from rcaflows.model.training import version_batches
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import Finding, PhaseName, PhaseResult, PhaseStatus
from rcaflows.rca.phases.component import STRONG_Z
from rcaflows.rca.ranking import fmt_num, fmt_time, onset_or_none
from rcaflows.vocab import IncidentType

PIPELINE_KINDS = {
    MetricKind.NULL_RATE: "upstream_null_rate",
    MetricKind.ROW_COUNT: "upstream_row_count",
    MetricKind.FRESHNESS: "upstream_freshness",
}
UPSTREAM_BONUS = 0.15
DATA_NODE_KINDS = {"source", "job", "dataset"}
CARRIER_FACTOR = 0.4
#: kind of the finding that names the failing training batch of a version new since the onset
TRAINING_KIND = "training_batch"
#: kind of the finding of a failing batch whose version already served before the onset (weaker)
TRAINING_KIND_PRIOR = "training_batch_prior"
#: versions serving less than this share of the rows after the split are not followed to their batches
MIN_VERSION_SHARE = 0.05
#: a version is new when its share before the split was below this fraction of its share after it
NEW_VERSION_FRACTION = 0.5
#: weight of a batch whose version already served before the onset (it did not change with the symptom)
OLD_VERSION_FACTOR = 0.5


def _check_hits(ctx: RcaContext, node: str, component: str | None) -> list[Any]:
    cols = set(ctx.lineage.nodes[node].get("columns") or [])
    hits = []
    for chk in ctx.checks:
        if chk.incident_type != IncidentType.DATA_QUALITY:
            continue  # a latency or error check on a dataset's service is not a data problem
        src = chk.details.get("source_component") if chk.details else None
        src_node = chk.details.get("source_node") if chk.details else None
        col_src = ctx.system.column_origin(chk.metric) if chk.metric and chk.metric in cols else None
        if (
            (chk.component in (node, component) and chk.component != ctx.symptom.component)
            or (src is not None and src == component)
            or (src_node is not None and src_node == node)
            or col_src == node
        ):
            hits.append(chk)
    return hits


class LineagePhase:
    """Find the most upstream lineage node that explains the symptom, and the blast radius."""

    name = PhaseName.LINEAGE

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return one finding per anomalous upstream node."""
        sym_node = ctx.system.lineage_node_of(ctx.symptom.component)
        if sym_node is None:
            return PhaseResult(
                phase=self.name,
                status=PhaseStatus.OK,
                summary=f"{ctx.symptom.component} is not on the lineage graph",
            )
        tab = ctx.analysis.table
        tol = max(ctx.analysis.matrix.step, pd.Timedelta(minutes=1))
        ups = nx.ancestors(ctx.lineage, sym_node)
        depth = {n: nx.shortest_path_length(ctx.lineage, n, sym_node) for n in ups}
        scored: dict[str, dict[str, Any]] = {}
        for node in ups:
            if str(ctx.lineage.nodes[node].get("kind")) not in DATA_NODE_KINDS:
                continue  # models and endpoints carry data problems; they do not originate them here
            comp = ctx.lineage.nodes[node].get("component")
            best: dict[str, Any] = {"score": 0.0}
            if comp is not None and comp in tab.index.get_level_values(0):
                rows = tab.loc[comp]
                for metric, row in rows.iterrows():
                    mkind = ctx.metric_kind(comp, str(metric))
                    if mkind not in PIPELINE_KINDS or row["z"] < STRONG_Z:
                        continue
                    if row["score"] > best["score"]:
                        arrow = "rose" if row["direction"] > 0 else "fell"
                        best = {
                            "score": float(row["score"]),
                            "kind": PIPELINE_KINDS[mkind],
                            "metric": str(metric),
                            "onset": None if pd.isna(row["onset"]) else pd.Timestamp(row["onset"]),
                            "text": f"{comp}/{metric} {arrow} from {fmt_num(row['base_median'])} to "
                            f"{fmt_num(row['cur_median'])} (robust z {row['z']:.1f})"
                            + (f" from {fmt_time(row['onset'])} UTC" if not pd.isna(row["onset"]) else ""),
                        }
            checks = _check_hits(ctx, node, comp)
            check_text = []
            for chk in checks:
                cs = max(float(chk.score), 0.5)
                check_text.append(
                    f"failed check {chk.check} on {chk.component}"
                    + (f".{chk.metric}" if chk.metric else "")
                    + (f": {chk.message}" if chk.message else "")
                )
                if cs > best["score"]:
                    sub = (chk.subtype or "").lower()
                    ckind = (
                        "upstream_drift"
                        if "drift" in sub
                        else ("upstream_null_rate" if "null" in sub else "upstream_dq_failure")
                    )
                    best = {
                        **best,
                        "score": cs,
                        "kind": ckind,
                        "metric": chk.metric,
                        "onset": best.get("onset") or (pd.Timestamp(chk.onset) if chk.onset else None),
                        "text": best.get("text") or check_text[-1],
                    }
            if best["score"] > 0:
                best["checks"] = check_text
                best["component"] = comp or node
                scored[node] = best
        findings: list[Finding] = []
        for node, b in scored.items():
            score = b["score"] * (1.0 + UPSTREAM_BONUS * (depth[node] - 1))
            kind = str(b["kind"])
            ev = [f"{b['text']}; {node} is {depth[node]} hop(s) upstream of {sym_node}"]
            ev += [t for t in b["checks"] if t != b["text"]][:3]
            against: list[str] = []
            carriers = [
                u
                for u in nx.ancestors(ctx.lineage, node)
                if u in scored
                and (b["onset"] is None or scored[u]["onset"] is None or scored[u]["onset"] <= b["onset"] + tol)
            ]
            if carriers:
                src = max(carriers, key=lambda u: depth[u])
                score *= CARRIER_FACTOR
                kind = "lineage_carrier"
                against.append(f"carries the problem from {src} further upstream")
            findings.append(
                Finding(
                    phase=self.name,
                    component=str(b["component"]),
                    metric=b["metric"],
                    kind=kind,
                    score=float(np.clip(score, 0.0, 1.0)),
                    onset=onset_or_none(b["onset"]),
                    evidence=ev,
                    contradicting=against,
                    details={"node": node, "depth": depth[node], "anomalous_upstream": sorted(carriers)},
                )
            )
        try:
            trained, notes = _training_findings(ctx, sym_node, self.name)
        except Exception as exc:  # the training half must not cost the rest of the phase
            trained, notes = [], [f"training batches not judged: {type(exc).__name__}: {exc}"]
        findings += trained
        findings.sort(key=lambda f: -f.score)
        roots = [f.component for f in findings if f.kind != "lineage_carrier"][:1]
        radius = ctx.graph.blast_radius([*roots, ctx.symptom.component])
        summary = (
            f"most upstream explaining node: {findings[0].details['node']} ({findings[0].component})"
            if findings
            else f"no anomalous node upstream of {sym_node}"
        ) + f"; blast radius {len(radius)} node(s)"
        return PhaseResult(
            phase=self.name,
            status=PhaseStatus.OK,
            findings=findings,
            summary=summary,
            details={"symptom_node": sym_node, "blast_radius": radius, "training": notes},
        )


def _training_findings(ctx: RcaContext, sym_node: str, phase: Any) -> tuple[list[Finding], list[str]]:
    """Return a finding per failing training batch of a model version serving after the split, and notes.

    Every model upstream of the symptom is followed; with several models, each note names its model.
    """
    findings: list[Finding] = []
    notes: list[str] = []
    several = len(ctx.config.models) > 1
    for model in ctx.config.models:
        found, said = _model_training(ctx, model, sym_node, phase)
        findings += found
        notes += [f"model {model.name}: {n}" for n in said] if several else said
    return findings, notes


def _model_training(ctx: RcaContext, model: ModelConfig, sym_node: str, phase: Any) -> tuple[list[Finding], list[str]]:
    """Return ``model``'s training findings and notes (see :func:`_training_findings`).

    The notes say why a link could not be followed (no version column, a version without a declared
    batch, a batch that is not among the files) or that a linked batch passed every check.
    """
    if model.training is None:
        return [], []
    if model.lineage_node != sym_node and model.lineage_node not in nx.ancestors(ctx.lineage, sym_node):
        return [], []
    col = model.log.version
    if col is None:
        return [], ["model.log.version is not declared: served versions cannot be linked to training batches"]
    ref, cur = ctx.split_predictions(model)
    if cur.empty or col not in cur.columns:
        return [], [f"no rows with a '{col}' column after the split: no served version to follow"]
    cur_share = cur[col].dropna().astype(str).value_counts(normalize=True)
    ref_share = (
        ref[col].dropna().astype(str).value_counts(normalize=True)
        if col in ref.columns and not ref.empty
        else pd.Series(dtype=float)
    )
    try:
        batches = training_batches(model, ctx.data)
    except DataError as exc:
        return [], [f"training batches unreadable: {exc}"]
    links = version_batches(model, batches)
    by_id = {b.id: b for b in batches}
    node = model.training.node
    comp = training_component(ctx.config, model)
    split = ctx.analysis.split
    findings: list[Finding] = []
    notes: list[str] = []
    for version, share in cur_share.items():
        version = str(version)
        if share < MIN_VERSION_SHARE:
            continue
        linked = links.get(version, [])
        absent = [b for b in linked if b not in by_id]
        if absent:
            notes.append(f"version {version}: training batch(es) {absent} not found among the batches read")
        ids = [b for b in linked if b in by_id]
        if not ids:
            if not absent:
                notes.append(f"version {version}: no training batch declared (model.training.versions)")
            continue
        failed = [c for c in training_checks(ctx.config, model, batches, ids, ctx.data.start, ctx.data.end) if c.failed]
        before = float(ref_share.get(version, 0.0))
        new = before < NEW_VERSION_FRACTION * share
        for bid in ids:
            mine = sorted((c for c in failed if c.details.get("batch") == bid), key=lambda c: -c.score)
            if not mine:
                notes.append(f"version {version}: training batch {bid} passed every check")
                continue
            batch = by_id[bid]
            since = f"{before:.0%} before, new" if new else f"{before:.0%} before too"
            evidence = [
                f"model version {version} serves {share:.0%} of the rows from {fmt_time(split)} UTC ({since}) and "
                f"was trained on batch {bid} of {node} (landed {batch.landed_at:%Y-%m-%d %H:%M} UTC), which failed "
                f"{len(mine)} check(s): {', '.join(dict.fromkeys(c.check for c in mine))}",
                *[c.message for c in mine[:3]],
            ]
            against = [] if new else [f"version {version} served before the onset too ({before:.0%} of the rows)"]
            score = max(c.score for c in mine) * (1.0 if new else OLD_VERSION_FACTOR)
            findings.append(
                Finding(
                    phase=phase,
                    component=comp,
                    metric=bid,
                    kind=TRAINING_KIND if new else TRAINING_KIND_PRIOR,
                    score=float(np.clip(score, 0.0, 1.0)),
                    onset=onset_or_none(batch.landed_at),
                    evidence=evidence,
                    contradicting=against,
                    details={
                        "node": node,
                        "batch": bid,
                        "version": version,
                        "version_share": float(share),
                        "version_share_before": before,
                        "failed_checks": [
                            {
                                "check": c.check,
                                "incident_type": str(c.incident_type),
                                "statistic": c.statistic,
                                "baseline": c.baseline,
                                "p_value": c.p_value,
                                "examples": list(c.details.get("examples", [])),
                            }
                            for c in mine
                        ],
                    },
                )
            )
    return findings, notes
