"""Runbooks as data: load and validate them, match them to a hypothesis, and fill their parameters.

The packaged defaults are the ``runbooks:`` section of ``rca/rules.yaml``; a system's
``mitigation.runbooks`` replace a default of the same name and come first, ``mitigation.disable``
drops defaults by name, ``mitigation.use_defaults: false`` drops them all. Both are validated by
the same models, and every problem is reported as ``file:line: field: expected``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from rcaflows.errors import ConfigError
from rcaflows.mitigation.models import TEMPLATE_FIELDS, ActionKind, Runbook, RunbookAction

if TYPE_CHECKING:
    from rcaflows.config.models import SystemConfig

RULES_FILE = "rca/rules.yaml"
_RUNBOOKS = TypeAdapter(list[Runbook])
# "v12 -> v13", "model 1.4 to 1.5", "v2→v3": the versions a deploy's change description names.
_VERSIONS = re.compile(r"(v?\d+(?:\.\d+)*)\s*(?:->|→|\bto\b)\s*(v?\d+(?:\.\d+)*)", re.IGNORECASE)


class TemplateError(ConfigError):
    """An action's parameters name an incident field the incident does not have."""


def parse_runbooks(text: str, where: str) -> list[Runbook]:
    """Parse the ``runbooks:`` section of a rules file; raise :class:`ConfigError` naming file, line and field."""
    from rcaflows.config.loader import _dotted, _line_map, _line_of  # config imports this package's models

    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        msg = f"{where}:{mark.line + 1 if mark is not None else 1}: not valid YAML: {getattr(exc, 'problem', exc)}"
        raise ConfigError(msg, [msg]) from None
    if not isinstance(raw, dict):
        msg = f"{where}:1: (root): expected a mapping with a 'runbooks' list"
        raise ConfigError(msg, [msg])
    lines = _line_map(text, yaml.SafeLoader)
    try:
        books = _RUNBOOKS.validate_python(raw.get("runbooks") or [])
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = ("runbooks", *err["loc"])
            expected = {"missing": "required field is missing", "extra_forbidden": "unknown field; check its spelling"}
            msg = expected.get(err["type"], err["msg"].removeprefix("Value error, "))
            problems.append(f"{where}:{_line_of(lines, path)}: {_dotted(path)}: {msg}")
        raise ConfigError(f"{where}: {len(problems)} problem(s) in runbooks", problems) from None
    names = [b.name for b in books]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        msg = f"{where}:{_line_of(lines, ('runbooks',))}: runbooks: duplicate name(s) {', '.join(dupes)}"
        raise ConfigError(msg, [msg])
    return books


@lru_cache(maxsize=1)
def default_runbooks() -> tuple[Runbook, ...]:
    """Return the packaged default runbooks (``runbooks:`` of ``rca/rules.yaml``)."""
    text = resources.files("rcaflows.rca").joinpath("rules.yaml").read_text(encoding="utf-8")
    return tuple(parse_runbooks(text, RULES_FILE))


def runbooks_for(cfg: SystemConfig) -> list[Runbook]:
    """Return the system's runbooks in match order: its own first, then the defaults it keeps.

    Raises:
        ConfigError: If ``mitigation.disable`` names a runbook that is not a default.
    """
    mit = cfg.mitigation
    defaults = list(default_runbooks()) if mit.use_defaults else []
    unknown = sorted(set(mit.disable) - {b.name for b in default_runbooks()})
    if unknown:
        raise ConfigError(
            f"mitigation.disable: unknown default runbook(s) {', '.join(unknown)}; "
            f"expected one of {', '.join(b.name for b in default_runbooks())}"
        )
    own = {b.name for b in mit.runbooks}
    return [*mit.runbooks, *(b for b in defaults if b.name not in own and b.name not in mit.disable)]


@dataclass(frozen=True)
class Hypothesis:
    """What a runbook is matched against: the incident and its top RCA hypothesis (if any)."""

    fields: dict[str, str] = field(default_factory=dict)  # TEMPLATE_FIELDS that are known
    labels: dict[str, str] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    confidence: float | None = None

    @property
    def cause_kind(self) -> str | None:
        """Return the top hypothesis' kind, if there is one."""
        return self.fields.get("cause_kind")


def hypothesis_of(cfg: SystemConfig, incident: Any, rca_results: dict[str, Any] | None) -> Hypothesis:
    """Return the matching context of an incident and the results of its latest completed RCA run."""
    f: dict[str, str] = {
        "incident": incident.key,
        "system": incident.system,
        "component": incident.component,
        "type": str(incident.type),
        "subtype": incident.subtype,
        "severity": str(incident.severity),
    }
    if incident.metric:
        f["metric"] = incident.metric
    comp = cfg.component(incident.component)
    labels = {"team": incident.team, "subtype": incident.subtype, "severity": str(incident.severity)}
    if comp is not None:
        labels["component_kind"] = str(comp.kind)
    labels.update({str(k): str(v) for k, v in (incident.details.get("labels") or {}).items()})
    hyps = (rca_results or {}).get("hypotheses") or []
    if not hyps:
        return Hypothesis(fields=f, labels=labels)
    top = hyps[0]
    f["cause_component"], f["cause_kind"] = str(top["component"]), str(top["kind"])
    if top.get("metric"):
        f["cause_metric"] = str(top["metric"])
    node = next((n.name for n in cfg.lineage.nodes if n.component == top["component"]), None)
    if node:
        f["cause_node"] = node
    for phase in (rca_results or {}).get("phases") or []:
        for finding in phase.get("findings") or []:
            d = finding.get("details") or {}
            if finding.get("component") != top["component"] or "change_time" not in d:
                continue
            f.setdefault("change_id", f"{top['component']}:{finding.get('kind')}@{d['change_time']}")
            if m := _VERSIONS.search(str(d.get("description", ""))):
                f.setdefault("previous_version", m.group(1))
                f.setdefault("model_version", m.group(2))
    return Hypothesis(
        fields=f,
        labels=labels,
        evidence=[str(s) for s in top.get("supporting") or []],
        confidence=float(top["confidence"]) if top.get("confidence") is not None else None,
    )


def matches(book: Runbook, hyp: Hypothesis) -> bool:
    """Return True when every set matcher of ``book`` matches ``hyp``."""
    w, f = book.when, hyp.fields
    if w.cause_kinds and f.get("cause_kind") not in w.cause_kinds:
        return False
    if w.components and not {f.get("cause_component"), f.get("component")} & set(w.components):
        return False
    if w.lineage_nodes and f.get("cause_node") not in w.lineage_nodes:
        return False
    if w.incident_types and f.get("type") not in {str(t) for t in w.incident_types}:
        return False
    return all(hyp.labels.get(k) == v for k, v in w.labels.items())


def select(books: list[Runbook], hyp: Hypothesis) -> Runbook | None:
    """Return the first runbook that matches ``hyp`` (system runbooks come before the defaults)."""
    return next((b for b in books if matches(b, hyp)), None)


def render(value: Any, fields: dict[str, str], *, where: str) -> Any:
    """Fill ``{field}`` in every string of ``value`` from ``fields``.

    Raises:
        TemplateError: If a named field is not known for this incident, saying which and where.
    """
    if isinstance(value, str):
        missing = sorted(n for n in _names(value) if n not in fields)
        if missing:
            absent = ", ".join("{" + m + "}" for m in missing)
            known = ", ".join(sorted(fields))
            msg = f"{where}: {absent} is not known for this incident (it has {known})"
            raise TemplateError(msg, [msg])
        return value.format_map(fields)
    if isinstance(value, dict):
        return {k: render(v, fields, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, fields, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _names(text: str) -> set[str]:
    from rcaflows.mitigation.models import template_fields

    return template_fields(text)


def filled(action: RunbookAction, fields: dict[str, str]) -> dict[str, Any]:
    """Return what the action needs to run, its templates filled: parameters, url+body or instructions."""
    where = f"action {action.name}"
    if action.kind is ActionKind.DEPLOYMENT:
        return {"deployment": action.deployment, "parameters": render(action.parameters, fields, where=where)}
    if action.kind is ActionKind.WEBHOOK:
        return {
            "url": render(action.url, fields, where=f"{where}.url"),
            "body": render(action.body, fields, where=where),
        }
    return {"instructions": render(action.instructions, fields, where=f"{where}.instructions")}


__all__ = [
    "TEMPLATE_FIELDS",
    "Hypothesis",
    "TemplateError",
    "default_runbooks",
    "filled",
    "hypothesis_of",
    "matches",
    "parse_runbooks",
    "render",
    "runbooks_for",
    "select",
]
