"""Environmental phase: change events and traffic shifts that could have set the incident off.

A change (deploy, schema, config, infra) counts when it happened within ``rca.change_window``
before the symptom onset (a minute of slack after it, since the onset is estimated).  Its score
is the product of

* timing: ``exp(-minutes_before_onset / tau)`` with ``tau`` a quarter of the change window;
* proximity in the dependency graph (topology plus lineage mapped to components): 1 for the
  symptom's component, ``0.8 ** hops`` for what the symptom depends on, ``0.3 * 0.8 ** hops`` for
  components that merely call the symptom's component, 0.1 when unconnected;
* a kind prior: deploy/schema 1.0, config 0.7, infra 0.5.

Changes after the onset are reported as evidence *against* their component.  Traffic: the entry
component's request rate against its baseline, and clients whose share of requests jumped.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from rcaflows.config.models import ModelConfig
from rcaflows.graph import client_node
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import Finding, PhaseName, PhaseResult, PhaseStatus
from rcaflows.rca.ranking import fmt_num, fmt_time, onset_or_none

KIND_PRIOR = {"deploy": 1.0, "schema": 1.0, "retrain": 1.0, "config": 0.7, "infra": 0.5}
KIND_NAME = {
    "deploy": "deploy",
    "schema": "schema_change",
    "retrain": "deploy",
    "config": "config_change",
    "infra": "infra_change",
}
AFTER_SLACK = pd.Timedelta(minutes=1)


#: proximity from which the relation to the symptom supports a change (a dependency 4 hops away)
PROXIMATE = 0.8**4


def proximity(ctx: RcaContext, component: str) -> tuple[float, str]:
    """Return (proximity in [0, 1], readable relation) of ``component`` to the symptom's component."""
    sym = ctx.symptom.component
    g = ctx.graph.components
    if component == sym:
        return 1.0, f"is the symptom's component {sym}"
    if component in g and sym in g:
        if nx.has_path(g, component, sym):
            d = nx.shortest_path_length(g, component, sym)
            return 0.8**d, f"is a dependency of {sym} ({d} hop(s))"
        if nx.has_path(g, sym, component):
            d = nx.shortest_path_length(g, sym, component)
            return 0.3 * 0.8**d, f"only calls or consumes {sym} ({d} hop(s))"
        und = g.to_undirected(as_view=True)
        if nx.has_path(und, component, sym):
            d = nx.shortest_path_length(und, component, sym)
            return 0.2 * 0.8**d, f"is only indirectly related to {sym} ({d} hop(s))"
    return 0.1, f"is not connected to {sym}"


def _kind(raw: str) -> str:
    low = str(raw).lower()
    return next((k for k in KIND_PRIOR if k in low), "other")


class EnvironmentalPhase:
    """Score change events by timing, proximity and kind; report traffic and client shifts."""

    name = PhaseName.ENVIRONMENTAL

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return one finding per relevant change event plus traffic findings."""
        onset = ctx.reference_time
        window = pd.Timedelta(ctx.config.rca.change_window)
        tau_min = max(window / pd.Timedelta(minutes=1) / 4.0, 1.0)
        findings: list[Finding] = []
        changes = ctx.data.changes
        n_before = n_after = 0
        if not changes.empty:
            sel = changes[(changes["timestamp"] >= onset - window) & (changes["timestamp"] <= ctx.detected_at)]
            for _, ch in sel.iterrows():
                ts = pd.Timestamp(ch["timestamp"])
                comp = str(ch["component"])
                kind = _kind(ch["kind"])
                prox, rel = proximity(ctx, comp)
                what = f"{ch['kind']} '{ch['description']}' on {comp} at {fmt_time(ts)} UTC"
                if ts > onset + AFTER_SLACK:
                    n_after += 1
                    after = (ts - onset) / pd.Timedelta(minutes=1)
                    findings.append(
                        Finding(
                            phase=self.name,
                            component=comp,
                            metric=str(ch["kind"]),
                            kind="change_after_onset",
                            score=float(0.5 * prox),
                            onset=onset_or_none(ts),
                            supports=False,
                            evidence=[f"{what} came {after:.0f} min after the symptom's onset: it cannot explain it"],
                            details={"change_time": ts.isoformat(), "minutes_after_onset": round(after, 1)},
                        )
                    )
                    continue
                n_before += 1
                before = max((onset - ts) / pd.Timedelta(minutes=1), 0.0)
                timing = float(np.exp(-before / tau_min))
                prior = KIND_PRIOR.get(kind, 0.5)
                score = timing * prox * prior
                findings.append(
                    Finding(
                        phase=self.name,
                        component=comp,
                        metric=str(ch["kind"]),
                        kind=KIND_NAME.get(kind, "change"),
                        score=float(np.clip(score, 0.0, 1.0)),
                        onset=onset_or_none(ts),
                        evidence=[f"{what}, {before:.0f} min before the symptom's onset"]
                        + ([f"{comp} {rel}"] if prox >= PROXIMATE else []),
                        # a weak relation to the symptom is said, but never as support
                        contradicting=[] if prox >= PROXIMATE else [f"{comp} {rel}"],
                        details={
                            "change_time": ts.isoformat(),
                            "description": str(ch["description"]),
                            "minutes_before_onset": round(before, 1),
                            "timing": round(timing, 3),
                            "proximity": round(prox, 3),
                            "kind_prior": prior,
                        },
                    )
                )
        findings += self._traffic(ctx, onset)
        findings.sort(key=lambda f: (not f.supports, -f.score))
        n_traffic = sum(f.kind in ("traffic_shift", "client_flood") for f in findings)
        return PhaseResult(
            phase=self.name,
            status=PhaseStatus.OK,
            findings=findings,
            summary=f"{n_before} change(s) in {fmt_time(onset - window)}-{fmt_time(onset)} UTC before "
            f"the onset, {n_after} after it; {n_traffic} traffic finding(s)",
        )

    def _traffic(self, ctx: RcaContext, onset: pd.Timestamp) -> list[Finding]:
        out: list[Finding] = []
        tab = ctx.analysis.table
        for entry in ctx.system.client_entries():
            key = (entry, "requests_per_min")
            if key in tab.index:
                row = tab.loc[key]
                if row["z"] >= 3:
                    out.append(
                        Finding(
                            phase=self.name,
                            component=entry,
                            metric="requests_per_min",
                            kind="traffic_shift",
                            score=float(row["score"]) * 0.5,
                            onset=onset_or_none(row["onset"]),
                            evidence=[
                                f"traffic at {entry} {'rose' if row['direction'] > 0 else 'fell'} from "
                                f"{fmt_num(row['base_median'])} to {fmt_num(row['cur_median'])} req/min "
                                f"(robust z {row['z']:.1f})"
                            ],
                            details={"z": float(row["z"])},
                        )
                    )
        for model in ctx.config.models:
            out += self._client_floods(ctx, model, onset)
        return out

    def _client_floods(self, ctx: RcaContext, model: ModelConfig, onset: pd.Timestamp) -> list[Finding]:
        """Return a finding per client whose share and rate of ``model``'s requests jumped."""
        out: list[Finding] = []
        ref, cur = ctx.split_predictions(model)
        if cur.empty or ref.empty or model.client_column not in cur.columns:
            return out
        sec = ctx.config.detectors.security_adversarial
        ccol = model.client_column
        span_ref = max((ref["timestamp"].max() - ref["timestamp"].min()) / pd.Timedelta(minutes=1), 1.0)
        span_cur = max((cur["timestamp"].max() - cur["timestamp"].min()) / pd.Timedelta(minutes=1), 1.0)
        share_ref = ref[ccol].astype(str).value_counts(normalize=True)
        counts_cur = cur[ccol].astype(str).value_counts()
        share_cur = counts_cur / counts_cur.sum()
        rate_ref = ref[ccol].astype(str).value_counts() / span_ref
        for client, sc in share_cur.items():
            sr = float(share_ref.get(client, 0.0))
            ratio = float(counts_cur[client] / span_cur / max(float(rate_ref.get(client, 0.0)), 0.1))
            if sc - sr < 0.05 or ratio < 2.0:
                continue
            score = float(min(1.0, sc / sec.client_share) * min(1.0, ratio / sec.client_ratio))
            first = cur.loc[cur[ccol].astype(str) == client, "timestamp"].min()
            out.append(
                Finding(
                    phase=self.name,
                    component=client_node(str(client)),
                    metric="requests_per_min",
                    kind="client_flood",
                    score=score,
                    onset=onset_or_none(first),
                    evidence=[
                        f"client {client} sends {sc:.0%} of requests from {fmt_time(onset)} UTC "
                        f"(was {sr:.1%}); its rate is x{ratio:.1f} its baseline"
                        + (" (a new client)" if sr == 0 else "")
                    ],
                    details={"share_current": float(sc), "share_reference": sr, "rate_ratio": ratio},
                )
            )
        return out
