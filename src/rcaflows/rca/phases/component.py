"""Component phase: the metric ranking of :func:`rcaflows.rca.rank_root_causes`, as findings.

Every anomalous component is ranked by :func:`rcaflows.rca.ranking.rank_components` over the
shared scores of the window (``ctx.analysis``) and the dependency graph (topology, plus lineage
mapped to components, plus ``entry -> client`` edges): summed per-series evidence, support from
anomalous callers, a discount for moving after the first mover, and the one victim rule (a
component whose dependency moved earlier keeps ``VICTIM_FACTOR`` of its score, one that moved
with a direct dependency ``COMOVING_FACTOR``). Synthesis orders
metric-only candidates by the ``rank_score`` of these findings, so the flow and the API give the
same order on the same metrics.
"""

from __future__ import annotations

from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import Finding, PhaseName, PhaseResult, PhaseStatus
from rcaflows.rca.ranking import metric_sentence, onset_or_none, rank_components, victim_sentence

#: z from which a component counts as clearly anomalous (the lineage phase's carriers use it)
STRONG_Z = 6.0


class ComponentPhase:
    """Rank failing components over the dependency graph and name their victims."""

    name = PhaseName.COMPONENT

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return one finding per anomalous component, in the order of the shared ranking."""
        a = ctx.analysis
        g = ctx.depends
        ranked = rank_components(a.scores, a.matrix.step, g if g.number_of_nodes() else None)
        if not ranked:
            return PhaseResult(phase=self.name, status=PhaseStatus.OK, summary="no component deviates")
        z_by_comp = {r["component"] for r in ranked}
        findings: list[Finding] = []
        for row in ranked:
            comp = row["component"]
            ev = [metric_sentence(row)]
            if row["others"]:
                ev.append("also deviating: " + ", ".join(f"{m} (z {z:.1f})" for m, z in row["others"]))
            against: list[str] = []
            if row["victim_of"] is not None:
                against.append(victim_sentence(row))
            elif row["comoving_with"] is not None:
                against.append(f"moved together with its dependency {row['comoving_with']}")
            elif comp in g:
                callers = sorted(p for p in g.predecessors(comp) if p in z_by_comp)
                if callers and row["support"] > 0:
                    ev.append(f"its caller(s) {', '.join(callers[:4])} deviate too (a fault propagates to callers)")
            score = row["score"]
            findings.append(
                Finding(
                    phase=self.name,
                    component=comp,
                    metric=row["metric"],
                    kind="victim"
                    if row["victim_of"] is not None
                    else ("comoving" if row["comoving_with"] is not None else "root_candidate"),
                    # the rank score is unbounded (summed evidence); findings carry scores in [0, 1]
                    score=float(score / (1.0 + score)),
                    onset=onset_or_none(row["onset"]),
                    evidence=ev,
                    contradicting=against,
                    details={
                        "rank_score": float(score),
                        "z": round(row["z"], 3),
                        "metric": row["metric"],
                        "n_anomalous_metrics": row["n_anomalous"],
                        "evidence": round(row["evidence"], 4),
                        "caller_support": round(row["support"], 4),
                        "late_steps": round(row["late"], 2),
                        "victim_of": row["victim_of"],
                        "comoving_with": row["comoving_with"],
                    },
                )
            )
        n_root = sum(f.kind == "root_candidate" for f in findings)  # no dependency moved first or with it
        return PhaseResult(
            phase=self.name,
            status=PhaseStatus.OK,
            findings=findings,
            summary=f"{len(findings)} anomalous component(s), {n_root} with no earlier-anomalous dependency",
        )
