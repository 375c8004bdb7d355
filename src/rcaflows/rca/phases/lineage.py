"""Lineage phase: walk upstream for the node that explains the symptom, downstream for the blast radius.

The symptom's component maps to a lineage node (through its topology dependencies when it has
none).  Every upstream node (``nx.ancestors``) is scored by its component's pipeline metrics
(null rate, row count, freshness; shared robust scores) and by failed data-quality checks that
name it, its component, its columns or a ``details["source_component"]``.  Anomalous nodes get a
bonus for being further upstream; a node whose anomalous upstream node moved no later is only a
*carrier* of the problem (score cut).  The downstream walk gives the blast radius
(:meth:`rcaflows.graph.SystemGraph.blast_radius`): the models, serving endpoints and consumers the
problem reaches, then the components that depend on them.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from rcaflows.config.models import MetricKind
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
            details={"symptom_node": sym_node, "blast_radius": radius},
        )
