"""Score one demo run against its scenario's stored ground truth."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from rcaflows.vocab import Severity


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

    @property
    def top1(self) -> bool:
        """Return True when the injected root cause is ranked first."""
        return bool(self.root_cause) and self.truth_rank == 1


def evaluate(truth: Any, result: dict[str, Any]) -> ScenarioOutcome:
    """Compare a detection flow's result with a scenario's :class:`~rcaflows.demo.Truth`.

    The scenario's primary incident is the opened incident of the first expected type (in the
    truth's order) that spans the most components, worst severity first; its RCA's ranking is
    scored against the truth.
    """
    expected = [str(t) for t in truth.incident_types]
    opened = [i for i in result["incidents"] if i["created"]]
    # An inhibited candidate was detected and explained by an opened incident, so it counts.
    inhibited = {c["type"] for c in result.get("suppressed", []) if c.get("reason") == "inhibition"}
    found = sorted({i["type"] for i in opened} | inhibited)
    investigations = {inv.get("incident"): inv for inv in result.get("investigations", [])}
    primary = None
    for t in expected:
        same = [i for i in opened if i["type"] == t]
        if same:
            primary = min(same, key=lambda i: (-len(i["components"]), Severity(i["severity"]).rank))
            break
    inv = investigations.get(primary["key"]) if primary else None
    ranked = (inv or {}).get("hypotheses") or []
    rank = ranked.index(truth.root_cause_component) + 1 if truth.root_cause_component in ranked else None
    return ScenarioOutcome(
        scenario=truth.scenario,
        expected_types=expected,
        found_types=found,
        incidents=[i["key"] for i in opened],
        detected=all(t in found for t in expected),
        quiet=bool(expected) or not opened,
        root_cause=truth.root_cause_component,
        top_cause=(inv or {}).get("top"),
        truth_rank=rank,
        confidence=(inv or {}).get("confidence"),
        report=((inv or {}).get("report") or {}).get("html"),
    )
