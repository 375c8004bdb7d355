"""Score one demo run against its scenario's stored ground truth: one incident per fault, the cause ranked.

An opened incident **matches** a fault when its RCA's top cause is the fault's root cause or its
components include it. A fault whose cause lives inside a model (an experiment arm, a slice, a
feature) names it in ``root_cause_terms``: its cause counts as ranked first only when the top
hypothesis is the model's component **and** that hypothesis's metric names every term (for
example ``error_rate[experiment_arm=treatment,group=B]``); the right component with another metric
is not the injected cause, so its rank is unknown (None). A fault is handled when exactly one
incident matches it and that incident matches no other fault; an incident matching no fault is an
extra, unless all its components are the scenario's declared distractors (a loud but unrelated
component that really misbehaves), which are listed apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, computed_field

from rcaflows.vocab import Severity


class FaultOutcome(BaseModel):
    """How one injected fault was detected and explained."""

    root_cause: str = Field(description="The fault's root-cause component.")
    expected_types: list[str] = Field(description="Incident types the fault must raise.")
    incidents: list[str] = Field(description="Opened incidents that match the fault.")
    found_types: list[str] = Field(description="Types of those incidents' signals, plus the ones they inhibited.")
    top_cause: str | None = Field(None, description="Top cause of the matching incident's RCA.")
    top_metric: str | None = Field(None, description="Metric (arm, slice, feature, change) of that top cause.")
    truth_rank: int | None = Field(None, description="Rank of the root cause in that RCA (1 = first).")
    confidence: float | None = Field(None, description="Confidence of that RCA's top hypothesis.")
    report: str | None = Field(None, description="That RCA's HTML report.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def detected(self) -> bool:
        """Return True when some incident matches the fault and every expected type was found."""
        return bool(self.incidents) and all(t in self.found_types for t in self.expected_types)


class ScenarioOutcome(BaseModel):
    """How one scenario's detection and RCA compare with its ground truth."""

    scenario: str
    expected_types: list[str]
    found_types: list[str]
    incidents: list[str]
    detected: bool
    quiet: bool
    root_cause: str
    top_cause: str | None
    truth_rank: int | None
    confidence: float | None
    report: str | None
    faults: list[FaultOutcome] = Field(default_factory=list, description="Per injected fault.")
    extra_incidents: list[str] = Field(default_factory=list, description="Opened incidents that match no fault.")
    distractor_incidents: list[str] = Field(
        default_factory=list, description="Opened incidents only on the scenario's declared distractors."
    )
    shared_incidents: list[str] = Field(default_factory=list, description="Opened incidents that match two faults.")

    @property
    def top1(self) -> bool:
        """Return True when every fault's root cause is ranked first by its incident's RCA."""
        return bool(self.faults) and all(f.truth_rank == 1 for f in self.faults)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def one_per_fault(self) -> bool:
        """Return True when each fault opened exactly one incident of its own and nothing else opened."""
        return (
            all(len(f.incidents) == 1 for f in self.faults)
            and not self.shared_incidents
            and not self.extra_incidents
            and (bool(self.faults) or not self.incidents)
        )


def incident_matches(incident: dict[str, Any], investigation: dict[str, Any] | None, root: str) -> bool:
    """Return True when an incident belongs to the fault at ``root``: its RCA's top cause, or one of its components."""
    top = (investigation or {}).get("top")
    return bool(root) and (top == root or root in incident["components"])


def evaluate(truth: Any, result: dict[str, Any]) -> ScenarioOutcome:
    """Compare a detection flow's result with a scenario's :class:`~rcaflows.demo.Truth`."""
    opened = [i for i in result["incidents"] if i["created"]]
    investigations = {inv.get("incident"): inv for inv in result.get("investigations", [])}
    inhibited: dict[str, set[str]] = {}
    for c in result.get("suppressed", []):
        if c.get("reason") == "inhibition":
            inhibited.setdefault(str(c.get("by")), set()).add(str(c["type"]))

    def types_of(inc: dict[str, Any]) -> set[str]:
        return set(inc.get("types") or [inc["type"]]) | inhibited.get(inc["key"], set())

    def matches(inc: dict[str, Any], root: str) -> bool:
        return incident_matches(inc, investigations.get(inc["key"]), root)

    fault_truths = list(truth.faults)
    faults: list[FaultOutcome] = []
    for f in fault_truths:
        mine = [i for i in opened if matches(i, f.root_cause_component)]
        found = sorted(set().union(*(types_of(i) for i in mine))) if mine else []
        primary = min(mine, key=lambda i: (-len(i["components"]), Severity(i["severity"]).rank), default=None)
        inv = investigations.get(primary["key"]) if primary else None
        ranked = (inv or {}).get("hypotheses") or []
        root = f.root_cause_component
        rank = ranked.index(root) + 1 if root in ranked else None
        top_metric = (inv or {}).get("top_metric")
        terms = list(getattr(f, "root_cause_terms", None) or [])
        if rank == 1 and not all(t in str(top_metric or "") for t in terms):
            rank = None  # the model is blamed, but not for the injected arm, slice or feature
        faults.append(
            FaultOutcome(
                root_cause=root,
                expected_types=[str(t) for t in f.incident_types],
                incidents=[i["key"] for i in mine],
                found_types=found,
                top_cause=(inv or {}).get("top"),
                top_metric=None if top_metric is None else str(top_metric),
                truth_rank=rank,
                confidence=(inv or {}).get("confidence"),
                report=((inv or {}).get("report") or {}).get("html"),
            )
        )
    hits = {i["key"]: sum(matches(i, f.root_cause_component) for f in fault_truths) for i in opened}
    distractors = set(truth.distractors)
    unmatched = [i for i in opened if hits[i["key"]] == 0]
    on_distractors = [i["key"] for i in unmatched if distractors and set(i["components"]) <= distractors]
    ranks = [f.truth_rank for f in faults]
    confidences = [f.confidence for f in faults if f.confidence is not None]
    expected = [str(t) for t in truth.incident_types]
    inhibited_types = set().union(*inhibited.values()) if inhibited else set()
    return ScenarioOutcome(
        scenario=truth.scenario,
        expected_types=expected,
        found_types=sorted(set().union(*(types_of(i) for i in opened)) | inhibited_types) if opened else [],
        incidents=[i["key"] for i in opened],
        detected=all(f.detected for f in faults),
        quiet=bool(expected) or not opened,
        root_cause=", ".join(f.root_cause for f in faults),
        top_cause=", ".join(f.top_cause or "-" for f in faults) if any(f.top_cause for f in faults) else None,
        truth_rank=None if not ranks or None in ranks else max(r for r in ranks if r is not None),
        confidence=min(confidences) if confidences else None,
        report=next((f.report for f in faults if f.report), None),
        faults=faults,
        extra_incidents=[i["key"] for i in unmatched if i["key"] not in on_distractors],
        distractor_incidents=on_distractors,
        shared_incidents=[k for k, n in hits.items() if n > 1],
    )
