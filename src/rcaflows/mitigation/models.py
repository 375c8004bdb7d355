"""Runbooks and watch periods as config: what to do for which hypothesis, and how long to watch a fix.

These are the specs (data); :mod:`rcaflows.mitigation.runbooks` matches them against an
incident's top hypothesis and fills their parameters, :mod:`rcaflows.mitigation.executors`
runs them, :mod:`rcaflows.mitigation.service` records every step, :mod:`rcaflows.mitigation.watch`
checks after a fix that the incident's checks stay clean. This module imports nothing of the
engine, so the system config (:mod:`rcaflows.config.models`) can embed it.
"""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rcaflows.vocab import IncidentType, Severity

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]

TEMPLATE_FIELDS: dict[str, str] = {
    "incident": "The incident's key, e.g. INC-0042.",
    "system": "The monitored system.",
    "component": "The incident's component.",
    "metric": "The incident's metric.",
    "type": "The incident type.",
    "subtype": "The incident subtype.",
    "severity": "The incident's severity.",
    "cause_component": "The top hypothesis' component.",
    "cause_kind": "The top hypothesis' kind (deploy, schema_change, client_flood, ...).",
    "cause_metric": "The top hypothesis' metric or change.",
    "cause_node": "The lineage node of the top hypothesis' component.",
    "change_id": "Id of the change event behind the top hypothesis.",
    "model_version": "The model version the change event deployed.",
    "previous_version": "The model version before that change.",
}
"""Fields an action's parameters, URL and body may name as ``{field}``."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def template_fields(value: Any) -> set[str]:
    """Return every ``{field}`` named in the strings of ``value`` (nested dicts and lists included)."""
    if isinstance(value, str):
        return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(value) if name}
    if isinstance(value, dict):
        return set().union(*(template_fields(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(template_fields(v) for v in value)) if value else set()
    return set()


class ActionKind(StrEnum):
    """How an action is carried out."""

    DEPLOYMENT = "deployment"  # run a Prefect deployment with parameters
    WEBHOOK = "webhook"  # POST a JSON body to a URL
    MANUAL = "manual"  # a person does it; approving it records that it was done


class RunbookAction(_Spec):
    """One step of a runbook."""

    name: Name = Field(description="Unique within the runbook; what operators approve, e.g. 'rollback_model'.")
    kind: ActionKind = Field(description="deployment, webhook or manual.")
    description: str = Field("", description="One line on what the action does.")
    deployment: str | None = Field(
        None, description="For kind deployment: '<flow name>/<deployment name>' as `prefect deployment ls` shows it."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Deployment parameters; strings may name incident fields as {field}."
    )
    url: str | None = Field(None, description="For kind webhook: the URL to POST to ({field} allowed).")
    body: dict[str, Any] = Field(default_factory=dict, description="For kind webhook: the JSON body ({field} allowed).")
    instructions: str = Field("", description="For kind manual: what the person does ({field} allowed).")
    auto: list[Severity] = Field(
        default_factory=list, description="Severities at which the action runs without waiting for approval."
    )
    timeout_s: float = Field(30.0, gt=0, le=3600, description="Webhook timeout; how long to wait for a deployment run.")
    wait: bool = Field(
        False, description="For kind deployment: wait for the run to finish (a failed run fails the action)."
    )
    retries: int = Field(0, ge=0, le=10, description="Further attempts after a failed one.")
    retry_delay_s: float = Field(0.0, ge=0, le=600, description="Pause between attempts.")

    @model_validator(mode="after")
    def _kind_fields(self) -> RunbookAction:
        if self.kind is ActionKind.DEPLOYMENT and (not self.deployment or "/" not in self.deployment):
            raise ValueError("a deployment action needs deployment: '<flow name>/<deployment name>'")
        if self.kind is ActionKind.WEBHOOK and not (self.url or "").startswith(("http://", "https://", "{")):
            raise ValueError("a webhook action needs url: an http:// or https:// URL")
        if self.kind is ActionKind.MANUAL and not self.instructions.strip():
            raise ValueError("a manual action needs instructions: what the person does")
        unknown = sorted(
            template_fields([self.parameters, self.url or "", self.body, self.instructions]) - TEMPLATE_FIELDS.keys()
        )
        if unknown:
            raise ValueError(
                f"unknown template field(s) {', '.join('{' + u + '}' for u in unknown)}; "
                f"expected one of {', '.join(TEMPLATE_FIELDS)}"
            )
        return self


class RunbookMatch(_Spec):
    """When a runbook applies; every set matcher must match (an empty one matches anything)."""

    cause_kinds: list[str] = Field(default_factory=list, description="Top hypothesis kinds, e.g. [deploy].")
    components: list[str] = Field(default_factory=list, description="Top hypothesis components (or the incident's).")
    lineage_nodes: list[str] = Field(default_factory=list, description="Lineage nodes of the top hypothesis.")
    incident_types: list[IncidentType] = Field(default_factory=list, description="Incident types.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels the incident's component must carry (key: value)."
    )


class Runbook(_Spec):
    """A named runbook: when it applies and its ordered actions."""

    name: Name = Field(description="Unique name; a system runbook with a default's name replaces that default.")
    description: str = Field("", description="One line on what the runbook is for.")
    when: RunbookMatch = Field(default_factory=RunbookMatch, description="When it applies.")
    actions: list[RunbookAction] = Field(min_length=1, description="Ordered actions.")

    @field_validator("actions")
    @classmethod
    def _unique_actions(cls, actions: list[RunbookAction]) -> list[RunbookAction]:
        names = [a.name for a in actions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate action name(s) {', '.join(dupes)}; action names must be unique")
        return actions


class WatchPolicy(_Spec):
    """How a fix is validated: the detection runs after it must stay clean."""

    runs: int = Field(3, ge=1, le=1000, description="Clean detection runs that validate the fix.")
    auto_resolve: bool = Field(True, description="Resolve a mitigated incident once validated.")


class MitigationConfig(_Spec):
    """Runbooks and watch periods of a system (the packaged defaults in rca/rules.yaml apply too)."""

    runbooks: list[Runbook] = Field(
        default_factory=list, description="Runbooks of this system; one named like a default replaces it."
    )
    use_defaults: bool = Field(True, description="Also use the packaged default runbooks (rca/rules.yaml).")
    disable: list[str] = Field(default_factory=list, description="Names of default runbooks not to use.")
    watch: WatchPolicy = Field(default_factory=WatchPolicy, description="Watch period after a fix.")
    watch_by_type: dict[IncidentType, WatchPolicy] = Field(
        default_factory=dict, description="Watch period per incident type, overriding 'watch'."
    )

    @field_validator("runbooks")
    @classmethod
    def _unique_runbooks(cls, runbooks: list[Runbook]) -> list[Runbook]:
        names = [r.name for r in runbooks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate runbook name(s) {', '.join(dupes)}; runbook names must be unique")
        return runbooks

    def watch_for(self, incident_type: IncidentType | str) -> WatchPolicy:
        """Return the watch policy of an incident type."""
        return self.watch_by_type.get(IncidentType(incident_type), self.watch)
