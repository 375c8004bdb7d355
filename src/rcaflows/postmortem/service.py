"""Build an incident's post-mortem draft: timeline, metrics, impact, causes, assessment, action items.

:func:`write_postmortem` is what the ``postmortem`` flow and ``rcaflows postmortem`` call once an
incident resolves: it links similar past incidents, seeds the action items the assessment calls
for (once each), renders the Markdown and HTML drafts and records a ``report`` event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rcaflows.config.learning import LearningConfig
from rcaflows.config.models import SystemConfig
from rcaflows.errors import RcaflowsError, TransitionError
from rcaflows.impact import affected_predictions, impact_of
from rcaflows.incidents import EventKind, Incident, Store, events, get_incident, rca_runs, record_event
from rcaflows.incidents.models import ActionItem
from rcaflows.postmortem.actions import add_action, list_actions
from rcaflows.postmortem.links import link_similar
from rcaflows.postmortem.models import (
    ActionItemView,
    Cause,
    Impact,
    Postmortem,
    PostmortemPaths,
    RelatedIncident,
    ResponseMetrics,
)
from rcaflows.postmortem.sections import merge_human, parse_human
from rcaflows.postmortem.states import PostmortemState, last_state_event, move_postmortem, resolved_after
from rcaflows.postmortem.timeline import build_timeline, onset_of, response_metrics
from rcaflows.reporting.storage import is_remote
from rcaflows.timeutil import human_duration as dur
from rcaflows.timeutil import now_utc

DEFAULT_WINDOW = timedelta(hours=1)
MAX_IMPACT_WINDOW = timedelta(days=7)
MAX_CAUSES = 5
MIN_CONTRIBUTING = 0.1  # confidence from which a hypothesis other than the top one is a contributing factor
ACTION_DUE = {"root_cause": timedelta(days=14), "recurrence": timedelta(days=7), "default": timedelta(days=14)}


def _latest_completed(runs: list[Any]) -> Any | None:
    done = [r for r in runs if r.status.value == "completed" and r.results]
    return done[-1] if done else None


def _first_escalation_after(incident: Incident, config: SystemConfig | None) -> timedelta | None:
    name = (incident.details or {}).get("escalation_policy")
    if config is None or not name:
        return None
    policy = next((p for p in config.escalation if p.name == name), None)
    return min((lv.after for lv in policy.levels), default=None) if policy else None


def assess(
    incident: Incident,
    metrics: ResponseMetrics,
    causes: list[Cause],
    failed_phases: list[str],
    ran_rca: bool,
    related: list[RelatedIncident],
    config: SystemConfig | None,
) -> tuple[list[str], list[str]]:
    """Return what went well and what went badly, each derived from the metrics and the RCA."""
    well: list[str] = []
    badly: list[str] = []
    window = config.window.current if config is not None else DEFAULT_WINDOW
    ttd = metrics.time_to_detect
    if ttd is not None:
        if ttd <= window:
            well.append(f"Detected within the first detection window: {dur(ttd)} after onset (window {dur(window)}).")
        else:
            badly.append(f"Detection took {dur(ttd)} after onset, longer than one detection window ({dur(window)}).")
    tta = metrics.time_to_acknowledge
    first_level = _first_escalation_after(incident, config)
    if tta is None:
        if not incident.is_open:
            badly.append("Never acknowledged before it was resolved.")
        else:
            badly.append(f"Not acknowledged yet; {metrics.escalations} escalation step(s) fired.")
    elif metrics.escalations_before_ack:
        badly.append(
            f"Acknowledged after {dur(tta)}, only once {metrics.escalations_before_ack} escalation step(s) had fired."
        )
    elif first_level is not None and tta > first_level:
        badly.append(f"Acknowledged after {dur(tta)}, later than the first escalation level ({dur(first_level)}).")
    else:
        limit = f", before the first escalation level ({dur(first_level)})" if first_level is not None else ""
        well.append(f"Acknowledged {dur(tta)} after detection{limit}; no escalation was needed.")
    if metrics.time_to_mitigate is not None and (
        metrics.time_to_resolve is None or metrics.time_to_mitigate < metrics.time_to_resolve
    ):
        well.append(f"Mitigated {dur(metrics.time_to_mitigate)} after detection, before the resolution.")
    if not ran_rca:
        badly.append("No completed RCA run: the root cause below is not backed by an analysis.")
    else:
        if failed_phases:
            badly.append(f"RCA phase(s) failed: {', '.join(failed_phases)}; the analysis was incomplete.")
        else:
            well.append("Every RCA phase completed.")
        if causes and causes[0].confidence >= 0.5:
            well.append(f"RCA ranked {causes[0].component} first with {causes[0].confidence:.0%} confidence.")
        elif causes:
            badly.append(f"RCA's top cause {causes[0].component} had only {causes[0].confidence:.0%} confidence.")
        else:
            badly.append("RCA ranked no root cause.")
    if metrics.notifications_failed:
        badly.append(f"{metrics.notifications_failed} notification channel(s) ended with a failed delivery.")
    elif metrics.notifications_sent:
        well.append(f"{metrics.notifications_sent} notification(s) delivered, none lost.")
    if metrics.reopened:
        badly.append(f"Reopened {metrics.reopened} time(s): an earlier resolution did not hold.")
    if related:
        keys = ", ".join(sorted({r.key for r in related}))
        badly.append(f"A recurrence: similar to earlier incident(s) {keys}.")
    return well, badly


def _seed_actions(
    session: Session,
    incident: Incident,
    causes: list[Cause],
    failed_phases: list[str],
    related: list[RelatedIncident],
    metrics: ResponseMetrics,
    config: SystemConfig | None = None,
) -> None:
    """Add the action items the assessment calls for, once each (keyed by ``source``).

    A detection later than ``learning.ttd_target`` (default 1 h) asks for a check that sees the
    fault sooner.
    """
    have = {a.source for a in list_actions(session, incident=incident)}
    base = metrics.resolved_at or now_utc()
    wanted: list[tuple[str, str, timedelta]] = []
    target = (config.learning if config is not None else LearningConfig()).ttd_target
    ttd = metrics.time_to_detect
    if ttd is not None and ttd > target:
        what = f"{incident.type.value.replace('_', ' ')} on {incident.component}"
        wanted.append(
            (
                "postmortem:late_detection",
                f"Add a check that detects {what} sooner: detected {dur(ttd)} after onset (target {dur(target)})",
                ACTION_DUE["default"],
            )
        )
    if causes:
        c = causes[0]
        what = f"{c.component}{f' / {c.metric}' if c.metric else ''}"
        wanted.append(
            (
                "postmortem:root_cause",
                f"Fix the root cause: {c.kind.replace('_', ' ')} at {what}",
                ACTION_DUE["root_cause"],
            )
        )
    if related:
        keys = ", ".join(sorted({r.key for r in related}))
        wanted.append(("postmortem:recurrence", f"Prevent the recurrence seen in {keys}", ACTION_DUE["recurrence"]))
    if failed_phases:
        wanted.append(
            (
                "postmortem:rca_phases",
                f"Make the failed RCA phase(s) reliable: {', '.join(failed_phases)}",
                ACTION_DUE["default"],
            )
        )
    if metrics.escalations_before_ack:
        wanted.append(
            ("postmortem:ack", "Review on-call paging: the acknowledgement needed escalation", ACTION_DUE["default"])
        )
    if metrics.notifications_failed:
        wanted.append(
            ("postmortem:notify", "Fix the notification channel(s) whose deliveries failed", ACTION_DUE["default"])
        )
    for source, title, due in wanted:
        if source not in have:
            add_action(session, incident, title, incident.team, "postmortem", due_at=base + due, source=source)


def impact_window(incident: Incident, config: SystemConfig | None) -> tuple[datetime, datetime]:
    """Return the window the deviation was observed in: onset (or one window before detection) to last seen.

    Bounded by the resolution and by 7 days, so counting predictions never reads an unbounded range.
    """
    window = config.window.current if config is not None else DEFAULT_WINDOW
    start = onset_of(incident) or incident.detected_at - window
    end = incident.last_seen_at
    if incident.resolved_at is not None:
        end = min(end, incident.resolved_at)
    end = max(end, start)
    return start, min(end, start + MAX_IMPACT_WINDOW)


def count_affected_predictions(
    config: SystemConfig, incident: Incident, downstream: list[str], components: list[str]
) -> tuple[int | None, str]:
    """Return the predictions the incident affected and how they were counted (see :mod:`rcaflows.impact`).

    ``downstream`` and ``components`` are kept for callers; the impact module reads the incident's
    own components and the topology (a serving incident affects the requests on its path).
    """
    return affected_predictions(impact_of(config, incident))


def build_postmortem(
    session: Session,
    incident_ref: Incident | int | str,
    *,
    config: SystemConfig | None = None,
    count_predictions: bool = True,
    now: datetime | None = None,
) -> Postmortem:
    """Return the post-mortem draft of an incident; links similar incidents and seeds action items.

    Runs inside a write session (it stores links and action items).

    Raises:
        NotFoundError: If the incident does not exist.
    """
    inc = get_incident(session, incident_ref)
    log = events(session, inc)
    runs = rca_runs(session, inc)
    now = now or now_utc()
    metrics = response_metrics(inc, log)
    run = _latest_completed(runs)
    results: dict[str, Any] = (run.results or {}) if run is not None else {}
    hyps = list(results.get("hypotheses") or [])
    # The top hypothesis is the root cause; another is a contributing factor only when the RCA gives
    # it a confidence that shows (at least MIN_CONTRIBUTING) and did not refute it: "0 %" and
    # refuted hypotheses are never listed as factors.
    kept = [
        h
        for i, h in enumerate(hyps)
        if i == 0 or (float(h.get("confidence") or 0.0) >= MIN_CONTRIBUTING and str(h.get("status", "")) != "refuted")
    ][:MAX_CAUSES]
    causes = [
        Cause(
            rank=n,  # numbered as listed, so the post-mortem's list has no gaps
            component=h["component"],
            metric=h.get("metric"),
            kind=h.get("kind", "?"),
            confidence=float(h.get("confidence") or 0.0),
            status=str(h.get("status", "")),
            supporting=list(h.get("supporting") or [])[:5],
            contradicting=list(h.get("contradicting") or [])[:3],
        )
        for n, h in enumerate(kept, start=1)
    ]
    failed_phases = [str(p["phase"]) for p in results.get("phases") or [] if p.get("status") != "ok"]
    links = link_similar(session, inc)
    related = []
    for link in links:
        other = get_incident(session, link.related_id)
        related.append(
            RelatedIncident(
                key=other.key,
                reason=link.reason,
                detail=link.detail,
                state=other.state.value,
                detected_at=other.detected_at,
                title=other.title,
            )
        )
    components = sorted({inc.component, *((inc.details or {}).get("components") or [])})
    downstream = list(results.get("blast_radius") or [])
    started = metrics.onset or inc.detected_at
    ended = metrics.resolved_at
    volume, note, numbers = (None, "not counted", None)
    if count_predictions and config is not None:
        # issue 15: counted by rcaflows.impact (a latency incident on the API affects its requests too)
        numbers = impact_of(config, inc)
        volume, note = affected_predictions(numbers)
    impact = Impact(
        started_at=started,
        ended_at=ended,
        duration=(ended or now) - started,
        components=components,
        downstream=downstream,
        affected_predictions=volume,
        predictions_note=note,
        occurrences=inc.occurrences,
        numbers=numbers,
    )
    well, badly = assess(inc, metrics, causes, failed_phases, run is not None, related, config)
    _seed_actions(session, inc, causes, failed_phases, related, metrics, config)
    state = last_state_event(log)
    resolution = next(
        (
            str(e.payload.get("resolution") or e.payload.get("reason") or "")
            for e in reversed(log)
            if e.kind is EventKind.TRANSITION and e.payload.get("action") == "resolve"
        ),
        None,
    )
    top = causes[0] if causes else None
    summary = (
        f"{inc.title}. {inc.severity.value.capitalize()} {inc.type.value.replace('_', ' ')} incident on "
        f"{inc.component} ({inc.system}), {('resolved' if not inc.is_open else 'still ' + inc.state.value)} "
        f"after {dur(metrics.time_to_resolve or (now - inc.detected_at))} from detection; "
        + (
            f"most likely root cause {top.component} ({top.kind.replace('_', ' ')}, {top.confidence:.0%} confidence)."
            if top
            else "no root cause was ranked."
        )
    )
    return Postmortem(
        key=inc.key,
        title=inc.title,
        system=inc.system,
        type=inc.type.value,
        severity=inc.severity.value,
        priority=inc.priority.value,
        team=inc.team,
        state=inc.state.value,
        resolution=resolution or None,
        summary=summary,
        metrics=metrics,
        impact=impact,
        timeline=build_timeline(inc, log, runs),
        causes=causes,
        rca_run_id=run.id if run is not None else None,
        rca_report=run.report_html if run is not None else None,
        failed_phases=failed_phases,
        went_well=well,
        went_badly=badly,
        related=related,
        actions=[_view(a) for a in list_actions(session, incident=inc)],
        generated_at=now,
        postmortem_state=str(state.payload["postmortem_state"]) if state is not None else PostmortemState.DRAFT.value,
    )


def _view(item: ActionItem) -> ActionItemView:
    return ActionItemView(
        id=item.id, title=item.title, owner=item.owner, due_at=item.due_at, status=item.status.value, source=item.source
    )


def read_draft(out_dir: str, name: str) -> tuple[str | None, str]:
    """Return the text of ``name`` under ``out_dir`` (a directory or an fsspec URL), or None, and its location."""
    if not is_remote(out_dir):
        path = Path(out_dir) / name
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except FileNotFoundError:
            return None, str(path)
        except OSError as exc:
            raise RcaflowsError(f"{path}: cannot read the post-mortem draft: {exc.strerror or exc}") from exc
    import fsspec

    location = f"{out_dir.rstrip('/')}/{name}"
    try:
        fs, root = fsspec.core.url_to_fs(location)
        if not fs.exists(root):
            return None, location
        with fs.open(root, "r", encoding="utf-8") as fh:
            return str(fh.read()), location
    except (ImportError, ValueError, OSError) as exc:
        raise RcaflowsError(f"rca.reports_dir: cannot read the post-mortem draft {location!r}: {exc}") from exc


def write_postmortem(
    store: Store,
    incident_ref: Incident | int | str,
    out_dir: Path | str,
    *,
    config: SystemConfig | None = None,
    count_predictions: bool = True,
    actor: str = "postmortem",
    state: PostmortemState | str | None = None,
    comment: str = "",
) -> tuple[Postmortem, PostmortemPaths]:
    """Build, render and write ``<out_dir>/<KEY>-postmortem.{md,html}``, and record a ``report`` event.

    ``out_dir`` is a local directory or an fsspec URL (``rca.reports_dir``; written through
    :func:`rcaflows.reporting.storage.store_report`). Re-running refreshes the draft: action items
    and links are kept, not duplicated, and the human-written sections of the existing Markdown
    (:mod:`rcaflows.postmortem.sections`) are put back verbatim. ``state`` moves the post-mortem
    (draft → review → published, :mod:`rcaflows.postmortem.states`) before it is rendered; the
    first write records ``draft``.

    Raises:
        TransitionError: If the post-mortem is published and no ``state`` moves it back to review
            (unless the incident was resolved again since: then it goes back to review by itself),
            or ``state`` is not an allowed move.
        RcaflowsError: If the existing draft's human-section markers do not pair up (nothing is written).
    """
    from rcaflows.postmortem.render import write_drafts
    from rcaflows.reporting.models import ReportPaths
    from rcaflows.reporting.storage import store_report

    target = str(out_dir)
    with store.session() as s:
        inc = get_incident(s, incident_ref)
        log = events(s, inc)
        last = last_state_event(log)
        current = PostmortemState(last.payload["postmortem_state"]) if last is not None else None
        if state is not None:
            move_postmortem(s, inc, state, actor, comment=comment)
        elif current is PostmortemState.PUBLISHED:
            assert last is not None
            if not resolved_after(log, last.at):
                raise TransitionError(
                    f"{inc.key}: the post-mortem is published and frozen; move it back with "
                    f"'rcaflows postmortem {inc.key} --state review' to refresh it"
                )
            move_postmortem(s, inc, PostmortemState.REVIEW, actor, comment="resolved again after publication")
    with store.session() as s:
        pm = build_postmortem(s, incident_ref, config=config, count_predictions=count_predictions)
    existing, where = read_draft(target, f"{pm.key}-postmortem.md")
    pm = pm.model_copy(update={"human": merge_human(parse_human(existing, where) if existing else {})})

    def write(directory: Path) -> ReportPaths:
        paths = write_drafts(pm, directory)
        return ReportPaths(html=Path(paths.html), markdown=Path(paths.markdown))

    html, markdown = store_report(target, write)
    out = (
        PostmortemPaths(markdown=markdown, html=html)
        if is_remote(target)
        else PostmortemPaths(markdown=Path(markdown), html=Path(html))
    )
    payload: dict[str, Any] = {"postmortem": str(out.markdown), "html": str(out.html), "actions": len(pm.actions)}
    if current is None and state is None:
        payload["postmortem_state"] = PostmortemState.DRAFT.value  # the first draft starts the review cycle
    with store.session() as s:
        record_event(s, pm.key, EventKind.REPORT, actor, payload)
    return pm, out


def on_resolved(
    store: Store,
    incident_ref: Incident | int | str,
    *,
    config: SystemConfig | None = None,
    out_dir: Path | str | None = None,
    actor: str = "postmortem",
) -> tuple[Postmortem, PostmortemPaths]:
    """Call after a resolution has committed: update the incident's messages, then draft its post-mortem.

    A failed delivery is recorded by :func:`rcaflows.notify.dispatch`, never raised, so the draft
    is written either way.

    Raises:
        TransitionError: If the incident is not resolved or closed.
    """
    from rcaflows.errors import TransitionError
    from rcaflows.notify import notify_incident_changed

    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        if inc.is_open:
            raise TransitionError(f"{inc.key} is {inc.state.value}; a post-mortem is drafted once it is resolved")
    notify_incident_changed(store, incident_ref, config=config, reason="resolved", actor=actor)
    target = out_dir if out_dir is not None else (config.rca.reports_dir if config is not None else "rcaflows-reports")
    return write_postmortem(store, incident_ref, target, config=config, actor=actor)
