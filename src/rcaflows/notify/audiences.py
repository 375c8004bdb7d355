"""The right message for each audience: technical, executive, status page / users, regulatory.

Each :class:`~rcaflows.config.models.AudienceConfig` names a template (``templates/<kind>.md.j2``),
its channels and an update cadence. :func:`communicate` sends an audience its update when the
incident's state changed since the last one it got, or when the cadence is due, and sends a
regulatory draft (with its deadline computed from detection) once per rule that applies. Every
delivery goes through the channel transports (:func:`rcaflows.notify.deliver_with_retries`) and
is recorded as a ``notification`` event carrying the audience, so the cadence is read back from the
audit log. :func:`render_status_page` writes the user-facing static page (HTML and a JSON feed).

Lifecycle wiring (who calls :func:`communicate` on which event) lives with the incident
lifecycle's subscribers; this module only decides and delivers.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from rcaflows.config.models import AudienceConfig, ChannelConfig, RegulatoryRule, SystemConfig
from rcaflows.impact import ImpactNumbers, impact_of
from rcaflows.incidents import EventKind, Incident, Store, events, get_incident, list_incidents, record_event
from rcaflows.notify.links import CrossLink, executive_update_link, technical_thread_link
from rcaflows.notify.models import Delivered, EventAction, Message, Previous
from rcaflows.timeutil import now_utc, utc
from rcaflows.vocab import IncidentState, IncidentType, Severity

__all__ = [
    "AudienceMessage",
    "AudienceUpdate",
    "IncidentFacts",
    "applicable_rules",
    "communicate",
    "communicate_due",
    "on_lifecycle",
    "render_audience",
    "render_regulatory",
    "render_status_page",
    "sample_context",
    "template_problems",
]

_CLOSED = {IncidentState.RESOLVED, IncidentState.CLOSED}
_RANK = {s: i for i, s in enumerate(Severity)}  # Severity is ordered worst first
DEFAULT_TEMPLATES = {"technical": "technical.md.j2", "executive": "executive.md.j2", "status": "status.md.j2"}
PLAIN_EFFECT = {
    IncidentType.PERFORMANCE_AVAILABILITY: "slower responses or errors",
    IncidentType.INTEGRATION_DEPENDENCY: "errors caused by a service we depend on",
    IncidentType.QUALITY_DEGRADATION: "less accurate automated decisions",
    IncidentType.BIAS_FAIRNESS: "automated decisions that may treat some customers unequally",
    IncidentType.DATA_QUALITY: "automated decisions based on incomplete or incorrect data",
    IncidentType.SECURITY_ADVERSARIAL: "unusual traffic that may slow the service",
}
PLAIN_STATE = {
    "detected": "investigating",
    "triaged": "investigating",
    "acknowledged": "investigating",
    "investigating": "investigating",
    "mitigated": "monitoring a fix",
    "resolved": "resolved",
    "closed": "resolved",
}


class IncidentFacts(BaseModel):
    """What every audience template may read about the incident."""

    model_config = ConfigDict(frozen=True)

    key: str
    title: str
    system: str
    type: str
    severity: str
    priority: str
    state: str
    team: str
    component: str
    components: list[str]
    detected_at: datetime
    onset: datetime | None
    resolved_at: datetime | None
    top_cause: str | None = None
    confidence: float | None = None
    report: str | None = None

    @classmethod
    def of(
        cls,
        incident: Incident,
        top_cause: str | None = None,
        confidence: float | None = None,
        report: str | None = None,
    ) -> IncidentFacts:
        """Return the facts of a stored incident."""
        details = incident.details or {}
        onset = details.get("onset")
        return cls(
            key=incident.key,
            title=incident.title,
            system=incident.system,
            type=incident.type.value,
            severity=incident.severity.value,
            priority=incident.priority.value,
            state=incident.state.value,
            team=incident.team,
            component=incident.component,
            components=sorted({incident.component, *(details.get("components") or [])}),
            detected_at=incident.detected_at,
            onset=utc(onset) if onset else None,
            resolved_at=incident.resolved_at,
            top_cause=top_cause,
            confidence=confidence,
            report=report,
        )


class AudienceMessage(Message):
    """A message rendered for one audience: the transports send its ``body`` instead of the incident card."""

    audience: str = Field(description="Audience name.")
    headline: str = Field(description="Subject line.")
    body: str = Field(description="Rendered template.")

    def subject(self) -> str:
        """Return the audience's subject line."""
        return self.headline

    def text(self) -> str:
        """Return the rendered body."""
        return self.body

    def compact(self) -> str:
        """Return the body: an audience update is read on its own, not as a thread line."""
        return self.body


class AudienceUpdate(BaseModel):
    """One delivery of an audience update or regulatory draft."""

    incident: str
    audience: str
    channel: str
    ok: bool
    why: str
    error: str | None = None
    next_update_at: datetime | None = None
    deadline: datetime | None = None


def _environment() -> jinja2.Environment:
    from rcaflows.reporting.render import environment

    return environment()


@functools.cache
def plain_environment() -> jinja2.Environment:
    """Return the report environment without escaping: these messages are plain text, not Markdown tables."""
    from rcaflows.reporting.render import OVERLAY_CACHE

    return _environment().overlay(
        autoescape=False, finalize=lambda v: "—" if v is None else v, cache_size=OVERLAY_CACHE
    )


@functools.lru_cache(maxsize=32)
def _dir_env(env: jinja2.Environment, directory: Path) -> jinja2.Environment:
    """Return ``env`` that also finds templates in ``directory`` (a config's own templates), kept per directory."""
    from rcaflows.reporting.render import OVERLAY_CACHE

    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(directory), *([env.loader] if env.loader else [])])
    return env.overlay(loader=loader, cache_size=OVERLAY_CACHE)


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """Return the template ``name`` under templates/, or the file at ``name`` if it is an absolute path.

    Compiled templates are kept (a file changed on disk is compiled again: Jinja checks its mtime).
    """
    path = Path(name)
    if path.is_absolute():
        return _dir_env(env, path.parent).get_template(path.name)
    return env.get_template(name)


def _public(config: SystemConfig, components: list[str]) -> list[str]:
    names = config.communication.status_page.public_components
    return sorted({names[c] for c in components if c in names})


def _context(
    config: SystemConfig,
    facts: IncidentFacts,
    impact: ImpactNumbers,
    at: datetime,
    next_update: datetime | None,
    audience: AudienceConfig | None = None,
    technical_thread: CrossLink | None = None,
    executive_update: CrossLink | None = None,
) -> dict[str, Any]:
    sp = config.communication.status_page
    itype = IncidentType(facts.type)
    expected = facts.detected_at + sp.expected_resolution
    return {
        "incident": facts,
        "impact": impact,
        "at": at,
        "next_update": next_update,
        "audience": audience,
        "system": config.system,
        "decision": config.communication.decision_needed.get(Severity(facts.severity), "No decision needed yet."),
        "public_components": _public(config, facts.components),
        "plain_effect": PLAIN_EFFECT.get(itype, "a problem with the service"),
        "plain_state": PLAIN_STATE.get(facts.state, facts.state),
        "expected_resolution": expected if expected > at else None,
        "workaround": sp.workaround,
        "currency": impact.currency,
        "technical_thread": technical_thread or CrossLink(label=f"technical thread of {facts.key}"),
        "executive_update": executive_update,
    }


def sample_context(config: SystemConfig, at: datetime | None = None) -> dict[str, Any]:
    """Return a complete context of a made-up incident, to check that templates name only real fields."""
    when = at or now_utc()
    comp = config.components[0].name if config.components else "component"
    facts = IncidentFacts(
        key="INC-0000",
        title="sample incident",
        system=config.system.name,
        type=IncidentType.PERFORMANCE_AVAILABILITY.value,
        severity=Severity.HIGH.value,
        priority="P2",
        state=IncidentState.INVESTIGATING.value,
        team=config.routing.default_team,
        component=comp,
        components=[comp],
        detected_at=when - timedelta(minutes=30),
        onset=when - timedelta(minutes=40),
        resolved_at=None,
        top_cause=f"{comp} (deploy)",
        confidence=0.8,
        report="report.html",
    )
    impact = ImpactNumbers(
        incident="INC-0000", window_start=when - timedelta(minutes=40), window_end=when, duration=timedelta(minutes=40)
    )
    rule = RegulatoryRule(name="sample", obligation="sample obligation", deadline=timedelta(hours=72))
    technical = CrossLink(label="technical thread", url="https://chat.example/archives/C1/p1", via="permalink")
    executive = CrossLink(label="executive update", url="mid:1@example.org", via="permalink")
    ctx = _context(config, facts, impact, when, when + timedelta(hours=1), None, technical, executive)
    ctx.update({"rule": rule, "deadline": when + timedelta(hours=72), "draft": True})
    return ctx


def template_problems(config: SystemConfig) -> list[tuple[str, str]]:
    """Return ``(field path, problem)`` for every audience or regulatory template that fails on a full context.

    A template naming a field the context lacks fails here (the environment's undefined is strict).
    """
    env = plain_environment()
    out: list[tuple[str, str]] = []
    items: list[tuple[str, str]] = [
        (f"communication.audiences[{i}].template", a.template or DEFAULT_TEMPLATES[a.kind])
        for i, a in enumerate(config.communication.audiences)
    ]
    items += [
        (f"communication.regulatory[{i}].template", r.template) for i, r in enumerate(config.communication.regulatory)
    ]
    ctx = sample_context(config)
    for path, name in items:
        try:
            _template(env, name).render(**ctx)
        except jinja2.TemplateNotFound:
            out.append((path, f"template {name!r} not found under templates/"))
        except jinja2.UndefinedError as exc:
            out.append((path, f"template {name!r} refers to a missing field: {exc.message}"))
        except jinja2.TemplateError as exc:
            out.append((path, f"template {name!r} does not render: {exc}"))
    return out


def render_audience(
    config: SystemConfig,
    audience: AudienceConfig,
    facts: IncidentFacts,
    impact: ImpactNumbers,
    at: datetime,
    next_update: datetime | None,
    technical_thread: CrossLink | None = None,
    executive_update: CrossLink | None = None,
) -> tuple[str, str]:
    """Return ``(subject, body)`` of an audience's update; the executive links the technical thread and back."""
    ctx = _context(config, facts, impact, at, next_update, audience, technical_thread, executive_update)
    body = _template(plain_environment(), audience.template or DEFAULT_TEMPLATES[audience.kind]).render(**ctx).strip()
    if audience.kind == "status":
        what = ", ".join(ctx["public_components"]) or config.communication.status_page.title
        subject = f"{what}: {ctx['plain_state']}"
    elif audience.kind == "executive":
        subject = f"[{facts.priority}] {facts.system}: {facts.title} ({facts.state})"
    else:
        subject = f"[{facts.severity.upper()}/{facts.priority}] {facts.key} {facts.title}"
    return subject, body + "\n"


def _touches_personal_data(config: SystemConfig, components: list[str]) -> bool:
    marked = set(config.communication.personal_data)
    nodes = {n.name: n.component for n in config.lineage.nodes}
    return bool(marked & set(components)) or any(nodes.get(m) in components for m in marked)


def applicable_rules(config: SystemConfig, facts: IncidentFacts) -> list[tuple[RegulatoryRule, datetime | None]]:
    """Return each regulatory rule that applies to the incident, with its deadline (detection + rule.deadline)."""
    out: list[tuple[RegulatoryRule, datetime | None]] = []
    comm = config.communication
    for rule in comm.regulatory:
        if rule.types and IncidentType(facts.type) not in rule.types:
            continue
        if rule.personal_data and not _touches_personal_data(config, facts.components):
            continue
        if rule.high_risk_ai and not comm.high_risk_ai:
            continue
        if _RANK[Severity(facts.severity)] > _RANK[rule.min_severity]:
            continue
        out.append((rule, facts.detected_at + rule.deadline if rule.deadline is not None else None))
    return out


def render_regulatory(
    config: SystemConfig,
    rule: RegulatoryRule,
    deadline: datetime | None,
    facts: IncidentFacts,
    impact: ImpactNumbers,
    at: datetime,
) -> tuple[str, str]:
    """Return ``(subject, body)`` of a regulatory draft for review."""
    ctx = _context(config, facts, impact, at, None)
    ctx.update({"rule": rule, "deadline": deadline, "draft": True})
    body = _template(plain_environment(), rule.template).render(**ctx).strip()
    due = f" due {deadline:%Y-%m-%d %H:%M} UTC" if deadline else " (no deadline set)"
    return f"DRAFT for review: {rule.name} notice for {facts.key}{due}", body + "\n"


def _top_cause(
    store: Store, incident_id: int, config: SystemConfig | None = None
) -> tuple[str | None, float | None, str | None]:
    from rcaflows.notify.service import latest_rca
    from rcaflows.reporting.storage import report_link

    with store.session(readonly=True) as s:
        run = latest_rca(s, incident_id)
        hyps = ((run.results or {}).get("hypotheses") or []) if run is not None else []
        top = hyps[0] if hyps else None
        return (
            (f"{top['component']} ({top.get('kind', '?')})" if top else None),
            (float(top["confidence"]) if top and top.get("confidence") is not None else None),
            report_link(run.report_html, config) if run is not None and run.report_html else None,
        )


def _impact_or_note(config: SystemConfig, incident: Incident, at: datetime) -> ImpactNumbers:
    """Return the incident's impact; a failure to compute it becomes a note, so the messages still go out."""
    try:
        return impact_of(config, incident, at=at)
    except Exception as exc:  # the audiences must hear about the incident even when counting fails
        start = incident.detected_at
        out = ImpactNumbers(
            incident=incident.key, window_start=start, window_end=max(at, start), duration=max(at, start) - start
        )
        out.notes.append(f"impact not computed: {type(exc).__name__}: {exc}")
        return out


def _deliver(
    store: Store,
    config: SystemConfig,
    incident: Incident,
    channel_name: str,
    message: AudienceMessage,
    previous: Previous | None,
    payload: dict[str, Any],
    at: datetime,
    sleep: Callable[[float], None],
) -> AudienceUpdate:
    from rcaflows.notify.service import deliver_with_retries

    declared = {c.name: c for c in config.notifications}
    ch: ChannelConfig | None = declared.get(channel_name)
    delivered: Delivered | None = None
    attempts = 0
    error: str | None = f"unknown notification channel {channel_name!r}"
    if ch is not None:
        delivered, attempts, error = deliver_with_retries(ch, message, previous, sleep=sleep)
    record = {
        **payload,
        "channel": channel_name,
        "kind": str(ch.kind) if ch else "unknown",
        "ok": delivered is not None,
        "attempts": attempts,
        "error": error,
        "external_id": (delivered.external_id if delivered else None),
        "thread_id": (delivered.thread_id if delivered else None),
        "link": (delivered.link if delivered else None),
        "mode": delivered.mode.value if delivered else "failed",
        "state": incident.state.value,
        "severity": incident.severity.value,
        "content_hash": message.content_hash(),
    }
    with store.session() as s:
        record_event(s, incident.id, EventKind.NOTIFICATION, "communication", record, at=at)
    return AudienceUpdate(
        incident=incident.key,
        audience=str(payload.get("audience") or payload.get("regulatory")),
        channel=channel_name,
        ok=delivered is not None,
        why=str(payload.get("why", "")),
        error=error,
        next_update_at=utc(payload["next_update_at"]) if payload.get("next_update_at") else None,
        deadline=utc(payload["deadline"]) if payload.get("deadline") else None,
    )


def communicate(
    store: Store,
    config: SystemConfig,
    incident_ref: Incident | int | str,
    *,
    at: datetime | None = None,
    impact: ImpactNumbers | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[AudienceUpdate]:
    """Send each audience its update where the state changed or the cadence is due, and new regulatory drafts.

    Call it after a state change commits and periodically (e.g. with the escalation run). Deliveries
    are recorded as ``notification`` events (with ``audience`` or ``regulatory`` in the payload),
    never raised. ``impact`` defaults to :func:`rcaflows.impact.impact_of` at ``at``.
    """
    when = utc(at) if at is not None else now_utc()
    comm = config.communication
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        log = [e for e in events(s, inc) if e.kind is EventKind.NOTIFICATION and e.actor == "communication"]
    last: dict[str, Any] = {}
    threads: dict[tuple[str, str], Previous] = {}
    drafted: set[str] = set()
    for e in log:
        p = e.payload or {}
        if p.get("audience"):
            last[p["audience"]] = e
            if p.get("ok") and p.get("external_id") and (p["audience"], p["channel"]) not in threads:
                threads[(p["audience"], p["channel"])] = Previous(
                    external_id=p["external_id"], thread_id=p.get("thread_id"), deliveries=1
                )
        if p.get("regulatory") and p.get("ok"):
            drafted.add(str(p["regulatory"]))
    closed = inc.state in _CLOSED
    due: list[tuple[AudienceConfig, str]] = []
    for aud in comm.audiences:
        if _RANK[inc.severity] > _RANK[aud.min_severity]:
            continue
        prev = last.get(aud.name)
        if prev is None:
            due.append((aud, "first update"))
        elif prev.payload.get("state") != inc.state.value:
            due.append((aud, f"state {prev.payload.get('state')} -> {inc.state.value}"))
        elif prev.payload.get("severity") not in (None, inc.severity.value):
            due.append((aud, f"severity {prev.payload.get('severity')} -> {inc.severity.value}"))
        elif not closed and when - prev.at >= aud.cadence:
            due.append((aud, f"cadence {aud.cadence} due"))
    top, conf, report = _top_cause(store, inc.id, config)
    facts = IncidentFacts.of(inc, top, conf, report)
    rules = [(r, d) for r, d in applicable_rules(config, facts) if r.name not in drafted]
    if not due and not rules:
        return []
    numbers = impact or _impact_or_note(config, inc, when)
    out: list[AudienceUpdate] = []
    base = {
        "incident_key": inc.key,
        "dedup_key": f"rcaflows/{inc.system}/{inc.key}",
        "system": inc.system,
        "title": inc.title,
        "state": inc.state.value,
        "severity": inc.severity.value,
        "priority": inc.priority.value,
        "team": inc.team,
        "component": inc.component,
        "detected_at": inc.detected_at,
        "action": EventAction.RESOLVE if closed else EventAction.UPDATE,
    }
    # The executive updates go first, so the technical messages of the same round link to them.
    for aud, why in sorted(due, key=lambda d: d[0].kind != "executive"):
        next_update = None if closed else when + aud.cadence
        with store.session(readonly=True) as s:
            log_now = events(s, inc.id)
            technical = technical_thread_link(inc, log_now, config, report)
            executive = executive_update_link(inc, log_now, config, report)
        subject, body = render_audience(config, aud, facts, numbers, when, next_update, technical, executive)
        thread = {"dedup_key": f"{base['dedup_key']}/{aud.name}"}  # its own thread, apart from the pager's
        links = {
            "technical_link": technical.url if aud.kind == "executive" else None,
            "executive_link": executive.url if executive is not None and aud.kind == "technical" else None,
        }
        msg = AudienceMessage(**{**base, **thread, **links}, audience=aud.name, headline=subject, body=body, reason=why)
        payload = {
            "audience": aud.name,
            "why": why,
            "next_update_at": next_update.isoformat() if next_update else None,
            "impact": numbers.headline(),
        }
        if aud.kind == "status":
            payload["status_text"] = body
        for ch in aud.channels:
            out.append(_deliver(store, config, inc, ch, msg, threads.get((aud.name, ch)), payload, when, sleep))
    for rule, deadline in rules:
        subject, body = render_regulatory(config, rule, deadline, facts, numbers, when)
        thread = {"dedup_key": f"{base['dedup_key']}/regulatory/{rule.name}"}
        msg = AudienceMessage(**{**base, **thread}, audience=f"regulatory:{rule.name}", headline=subject, body=body)
        payload = {
            "regulatory": rule.name,
            "why": rule.obligation,
            "deadline": deadline.isoformat() if deadline else None,
            "draft": body,
        }
        for ch in rule.channels:
            out.append(_deliver(store, config, inc, ch, msg, None, payload, when, sleep))
    if comm.status_page.directory and any(a.kind == "status" for a, _ in due):
        render_status_page(store, config, Path(comm.status_page.directory), at=when)
    return out


def status_feed(
    store: Store, config: SystemConfig, at: datetime | None = None, history: timedelta = timedelta(days=7)
) -> dict[str, Any]:
    """Return the status page's JSON feed: open incidents and those resolved within ``history``, in plain words."""
    when = utc(at) if at is not None else now_utc()
    sp = config.communication.status_page
    items: list[dict[str, Any]] = []
    with store.session(readonly=True) as s:
        incs = list_incidents(s, system=config.system.name, limit=500)
        for inc in incs:
            if inc.resolved_at is not None and when - inc.resolved_at > history:
                continue
            facts = IncidentFacts.of(inc)
            public = _public(config, facts.components)
            open_ = inc.state not in _CLOSED
            updates = list(
                {
                    (e.at.isoformat(), str(e.payload["status_text"])): {
                        "at": e.at.isoformat(),
                        "text": str(e.payload["status_text"]),
                    }
                    for e in events(s, inc)
                    if e.kind is EventKind.NOTIFICATION and e.actor == "communication" and e.payload.get("status_text")
                }.values()
            )  # one per update, not one per channel it went to
            expected = inc.detected_at + sp.expected_resolution
            items.append(
                {
                    "id": inc.key,
                    "status": PLAIN_STATE.get(inc.state.value, inc.state.value),
                    "open": open_,
                    "affected": public or ["Our service"],
                    "summary": f"Some users may see {PLAIN_EFFECT.get(inc.type, 'a problem with the service')}.",
                    "started_at": (facts.onset or inc.detected_at).isoformat(),
                    "resolved_at": inc.resolved_at.isoformat() if inc.resolved_at else None,
                    "expected_resolution": expected.isoformat() if open_ and expected > when else None,
                    "workaround": sp.workaround if open_ else "",
                    "updates": updates,
                }
            )
    overall = "degraded" if any(i["open"] for i in items) else "operational"
    return {
        "page": sp.title,
        "updated_at": when.isoformat(),
        "status": overall,
        "components": sorted(set(sp.public_components.values())),
        "incidents": items,
    }


def render_status_page(
    store: Store, config: SystemConfig, directory: Path, *, at: datetime | None = None
) -> tuple[Path, Path]:
    """Write ``index.html`` and ``status.json`` for the user audience into ``directory``; return both paths."""
    feed = status_feed(store, config, at)
    directory.mkdir(parents=True, exist_ok=True)
    html = _environment().get_template("status_page.html.j2").render(feed=feed)
    page, data = directory / "index.html", directory / "status.json"
    for path, text in ((page, html), (data, json.dumps(feed, indent=2) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return page, data


def communicate_due(
    store: Store, config: SystemConfig, *, at: datetime | None = None, sleep: Callable[[float], None] = time.sleep
) -> list[AudienceUpdate]:
    """Run :func:`communicate` over the system's open incidents: the periodic cadence check (e.g. with escalation)."""
    when = utc(at) if at is not None else now_utc()
    with store.session(readonly=True) as s:
        keys = [
            i.key
            for i in list_incidents(s, system=config.system.name, limit=1000)
            if i.state not in _CLOSED and i.detected_at <= when
        ]
    out: list[AudienceUpdate] = []
    for key in keys:
        out += communicate(store, config, key, at=when, sleep=sleep)
    return out


def on_lifecycle(event: Any, ctx: Any) -> list[AudienceUpdate]:
    """Lifecycle subscriber (for :mod:`rcaflows.wiring`): send the audience updates a committed change made due."""
    if not isinstance(getattr(ctx, "config", None), SystemConfig) or getattr(event, "incident_id", None) is None:
        return []
    return communicate(ctx.store, ctx.config, event.incident_id, at=getattr(event, "at", None))
