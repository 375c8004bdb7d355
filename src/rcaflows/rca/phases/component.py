"""Component phase: which components fail, and which only suffer from a failing dependency.

Each component takes the anomaly of its most deviating series (shared robust scores) and the
earliest onset of its strongly deviating series.  Over the dependency graph (topology, plus
lineage mapped to components, plus ``entry -> client`` edges) a component whose anomalous
dependency moved earlier is a *victim* (score cut to a third); one that moved together with a
dependency is *co-moving* (cut to 0.7); an anomalous component with no earlier-anomalous dependency
is a *root candidate*, slightly boosted by the anomalous dependents it explains.  Components
unconnected to the symptom, or that moved after the symptom's onset, are demoted.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import Finding, PhaseName, PhaseResult, PhaseStatus
from rcaflows.rca.ranking import Z_THRESHOLD, component_table, fmt_time, onset_or_none, z_to_score

VICTIM_FACTOR = 1.0 / 3.0
COMOVING_FACTOR = 0.7
UNCONNECTED_FACTOR = 0.5
AFTER_SYMPTOM_FACTOR = 0.3
#: robust z from which a component counts when judging victims and dependents
STRONG_Z = 6.0


class ComponentPhase:
    """Separate failing components from their victims over the dependency graph."""

    name = PhaseName.COMPONENT

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return one finding per anomalous component."""
        a = ctx.analysis
        tab = component_table(a.scores)
        tab = tab[tab["z"] >= Z_THRESHOLD].set_index("component")
        if tab.empty:
            return PhaseResult(phase=self.name, status=PhaseStatus.OK, summary="no component deviates")
        step = a.matrix.step
        tol = max(step, pd.Timedelta(minutes=1))
        g = ctx.depends
        und = g.to_undirected(as_view=True)
        sym = ctx.symptom.component
        s_onset = ctx.symptom_onset
        onsets = {c: (None if pd.isna(o) else pd.Timestamp(o)) for c, o in tab["onset"].items()}
        # Only clearly anomalous components can make others their victims.
        strong = {c: (o if tab.loc[c, "z"] >= STRONG_Z else None) for c, o in onsets.items()}
        findings: list[Finding] = []
        n_root = 0
        for comp, row in tab.iterrows():
            comp = str(comp)
            score = float(z_to_score(row["z"]))
            onset = onsets[comp]
            ev = [
                f"{comp} deviates most in {row['metric']} (robust z {row['z']:.1f}"
                + (f", from {fmt_time(onset)} UTC)" if onset is not None else ")")
            ]
            kind = "root_candidate"
            details: dict = {
                "z": round(float(row["z"]), 3),
                "metric": row["metric"],
                "n_anomalous_metrics": int(row["n_anomalous"]),
            }
            deps = nx.descendants(g, comp) if comp in g else set()
            earlier = [
                (d, onset - strong[d])
                for d in deps
                if strong.get(d) is not None and onset is not None and onset - strong[d] > tol
            ]
            together = [
                d for d in deps if strong.get(d) is not None and onset is not None and abs(onset - strong[d]) <= tol
            ]
            if earlier:
                dep, lead = max(earlier, key=lambda t: t[1])
                kind = "victim"
                score *= VICTIM_FACTOR
                ev.append(f"suffers from {dep} which moved {lead / pd.Timedelta(minutes=1):.0f} min earlier")
                details["victim_of"] = dep
            elif together:
                kind = "comoving"
                score *= COMOVING_FACTOR
                ev.append(f"moved together with its dependency {', '.join(sorted(together)[:3])}")
                details["comoving_with"] = sorted(together)
            else:
                n_root += 1
                dependents = nx.ancestors(g, comp) if comp in g else set()
                later = sorted(
                    d
                    for d in dependents
                    if strong.get(d) is not None and onset is not None and strong[d] - onset >= -tol
                )
                if later and row["z"] >= STRONG_Z:
                    score = min(1.0, score * (1.0 + 0.1 * min(len(later), 3)))
                    ev.append(
                        f"no dependency moved first; explains {len(later)} anomalous dependent(s): "
                        f"{', '.join(later[:4])}"
                    )
                    details["explains"] = later
                else:
                    ev.append("no dependency of it moved first")
            connected = comp == sym or (comp in und and sym in und and nx.has_path(und, comp, sym))
            if not connected:
                score *= UNCONNECTED_FACTOR
                ev.append(f"not connected to {sym} in topology or lineage")
                details["connected"] = False
            if onset is not None and s_onset is not None and onset - s_onset > tol:
                score *= AFTER_SYMPTOM_FACTOR
                kind = "after_symptom" if kind == "root_candidate" else kind
                ev.append(f"moved {(onset - s_onset) / pd.Timedelta(minutes=1):.0f} min after the symptom's onset")
            findings.append(
                Finding(
                    phase=self.name,
                    component=comp,
                    metric=str(row["metric"]),
                    kind=kind,
                    score=float(np.clip(score, 0.0, 1.0)),
                    onset=onset_or_none(onset),
                    evidence=ev,
                    details=details,
                )
            )
        findings.sort(key=lambda f: -f.score)
        return PhaseResult(
            phase=self.name,
            status=PhaseStatus.OK,
            findings=findings,
            summary=f"{len(findings)} anomalous component(s), {n_root} with no earlier-anomalous dependency",
        )
