"""Who is on call: rotation layers, overrides and calendars resolve a team to a person at a moment.

A team's :class:`~rcaflows.config.models.ScheduleConfig` stacks rotation layers (a later layer wins
where it covers the time, as PagerDuty layers do) and overrides on top (inline, or events of an
iCalendar file). Shifts come from :mod:`dateutil.rrule` with the layer's first hand-off as
``dtstart`` in the schedule's time zone, so hand-offs keep their wall-clock time across DST;
calendar recurrences are expanded by :mod:`recurring_ical_events`.

Escalation targets ``oncall:<team>[:primary|secondary|manager]`` page people: :func:`page_dispatch`
returns a ``dispatch``-compatible callable for :func:`rcaflows.triage.escalation.escalate_due`
that expands them into each person's contact channels and records who was paged and why. A gap
(nobody on call) pages the schedule's fallback and records it: never silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, WEEKLY, rrule

from rcaflows.config.communication import hm, local_time, overlapping_overrides, parse_oncall_target
from rcaflows.config.models import (
    ChannelConfig,
    ChannelKind,
    OverrideConfig,
    PersonConfig,
    RotationLayer,
    ScheduleConfig,
    SystemConfig,
)
from rcaflows.errors import ConfigError
from rcaflows.timeutil import now_utc, utc

__all__ = [
    "Assignment",
    "OnCall",
    "Shift",
    "contact_channels",
    "expand_oncall_targets",
    "gaps",
    "overlapping_overrides",
    "page_dispatch",
    "schedule_for",
    "who_is_on_call",
]

Role = Literal["primary", "secondary"]
ROLES: tuple[Role, ...] = ("primary", "secondary")
TARGET_PREFIX = "oncall:"


@dataclass(frozen=True)
class Shift:
    """A span in which one person holds a role, and where that comes from."""

    person: str
    role: Role
    start: datetime
    end: datetime | None
    source: str


@dataclass(frozen=True)
class Assignment:
    """Who holds a role at a moment, why, and how to reach them."""

    person: str
    role: str
    why: str
    since: datetime | None
    until: datetime | None
    contacts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OnCall:
    """The answer of :func:`who_is_on_call` for one team at one moment."""

    team: str
    at: datetime
    timezone: str
    primary: Assignment | None
    secondary: Assignment | None
    manager: Assignment | None
    fallback: list[str]

    @property
    def gap(self) -> bool:
        """Return whether nobody holds the primary role."""
        return self.primary is None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""

        def a(x: Assignment | None) -> dict[str, Any] | None:
            if x is None:
                return None
            return {
                "person": x.person,
                "role": x.role,
                "why": x.why,
                "since": x.since.isoformat() if x.since else None,
                "until": x.until.isoformat() if x.until else None,
                "contacts": list(x.contacts),
            }

        return {
            "team": self.team,
            "at": self.at.isoformat(),
            "timezone": self.timezone,
            "primary": a(self.primary),
            "secondary": a(self.secondary),
            "manager": a(self.manager),
            "gap": self.gap,
            "fallback": list(self.fallback),
        }


_local = local_time


def _rule(layer: RotationLayer, tz: ZoneInfo) -> rrule:
    return rrule(DAILY if layer.rotation == "daily" else WEEKLY, interval=layer.every, dtstart=_local(layer.start, tz))


_hm = hm


def _restricted(layer: RotationLayer, local: datetime) -> tuple[bool, datetime | None, datetime | None]:
    """Return whether the layer covers ``local`` under its daily restriction, and that window's bounds."""
    if layer.restrict is None:
        return True, None, None
    (fh, fm), (th, tm) = _hm(layer.restrict[0]), _hm(layer.restrict[1])
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    for offset in (-1, 0):
        start = (day + timedelta(days=offset)).replace(hour=fh, minute=fm)
        end = (day + timedelta(days=offset)).replace(hour=th, minute=tm)
        if end <= start:
            end += timedelta(days=1)
        if start <= local < end:
            return True, start, end
    return False, None, None


def layer_shift(layer: RotationLayer, tz: ZoneInfo, at: datetime) -> Shift | None:
    """Return the layer's shift covering ``at``, or None before its first hand-off or outside its hours."""
    local = at.astimezone(tz)
    rule = _rule(layer, tz)
    begin = rule.before(local, inc=True)
    if begin is None:
        return None
    covered, r0, r1 = _restricted(layer, local)
    if not covered:
        return None
    # occurrences from dtstart to this one, inclusive: the shift's number (rrule's own arithmetic)
    index = rule.between(_local(layer.start, tz), begin, inc=True).__len__() - 1
    person = layer.members[index % len(layer.members)]
    end = rule.after(begin)
    since = max(begin, r0) if r0 is not None else begin
    until = min(end, r1) if (r1 is not None and end is not None) else (r1 or end)
    hours = f", {layer.restrict[0]}-{layer.restrict[1]} local" if layer.restrict else ""
    source = (
        f"layer {layer.name!r}: {layer.rotation} rotation (every {layer.every}) from "
        f"{_local(layer.start, tz):%Y-%m-%d %H:%M} {tz.key}, shift #{index + 1} -> member "
        f"{index % len(layer.members) + 1} of {len(layer.members)}{hours}"
    )
    return Shift(person, layer.role, since, until, source)


@lru_cache(maxsize=16)
def _calendar(path: str, mtime: float) -> Any:
    import icalendar

    try:
        return icalendar.Calendar.from_ical(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"on-call calendar {path}: cannot read it: {exc}") from exc


def _ical_path(schedule: ScheduleConfig, base_dir: Path | None) -> Path | None:
    if not schedule.ical:
        return None
    p = Path(schedule.ical)
    return p if p.is_absolute() else (base_dir or Path.cwd()) / p


def calendar_shifts(schedule: ScheduleConfig, start: datetime, end: datetime, base_dir: Path | None) -> list[Shift]:
    """Return the calendar's override shifts overlapping ``[start, end)`` (recurrences expanded).

    Raises:
        ConfigError: If the file cannot be read or parsed.
    """
    path = _ical_path(schedule, base_dir)
    if path is None:
        return []
    import recurring_ical_events

    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"on-call calendar {path}: cannot read it: {exc.strerror or exc}") from exc
    cal = _calendar(str(path), mtime)
    tz = ZoneInfo(schedule.timezone)
    out: list[Shift] = []
    for ev in recurring_ical_events.of(cal).between(start, end):
        who = str(ev.get("SUMMARY", "")).strip()
        cats = ev.get("CATEGORIES")
        words = {str(c).lower() for c in (cats.cats if cats is not None and hasattr(cats, "cats") else [])}
        s0, s1 = ev.decoded("DTSTART"), ev.decoded("DTEND")
        s0 = _local(s0, tz) if isinstance(s0, datetime) else datetime(s0.year, s0.month, s0.day, tzinfo=tz)
        s1 = _local(s1, tz) if isinstance(s1, datetime) else datetime(s1.year, s1.month, s1.day, tzinfo=tz)
        role: Role = "secondary" if "secondary" in words else "primary"
        out.append(Shift(who, role, s0, s1, f"calendar {path.name}: event {who!r} {s0:%Y-%m-%d %H:%M}-{s1:%H:%M}"))
    return out


def _override_shift(o: OverrideConfig, tz: ZoneInfo) -> Shift:
    why = f": {o.reason}" if o.reason else ""
    return Shift(o.person, o.role, _local(o.start, tz), _local(o.end, tz), f"override{why}")


def schedule_for(config: SystemConfig, team: str) -> ScheduleConfig | None:
    """Return the team's schedule, if it has one."""
    return next((s for s in config.oncall.schedules if s.team == team), None)


def _person(config: SystemConfig, name: str) -> PersonConfig | None:
    return next((p for p in config.oncall.people if p.name == name), None)


def _assignment(config: SystemConfig, shift: Shift) -> Assignment:
    p = _person(config, shift.person)
    return Assignment(shift.person, shift.role, shift.source, shift.start, shift.end, list(p.contacts) if p else [])


def who_is_on_call(
    config: SystemConfig, team: str, at: datetime | None = None, *, base_dir: Path | None = None
) -> OnCall | None:
    """Return who holds each role of ``team`` at ``at`` (default now), and why; None without a schedule.

    Overrides win over layers; among layers the last one listed that covers the time wins.
    """
    schedule = schedule_for(config, team)
    if schedule is None:
        return None
    when = utc(at) if at is not None else now_utc()
    tz = ZoneInfo(schedule.timezone)
    overrides = [_override_shift(o, tz) for o in schedule.overrides]
    overrides += calendar_shifts(schedule, when, when + timedelta(seconds=1), base_dir)
    roles: dict[str, Assignment | None] = {}
    for role in ROLES:
        # the latest-starting override wins where two overlap (validate reports the overlap)
        over = [s for s in overrides if s.role == role and s.start <= when and (s.end is None or when < s.end)]
        if over:
            roles[role] = _assignment(config, max(over, key=lambda s: s.start))
            continue
        hit = None
        for layer in reversed([ly for ly in schedule.layers if ly.role == role]):
            hit = layer_shift(layer, tz, when)
            if hit is not None:
                break
        roles[role] = _assignment(config, hit) if hit is not None else None
    primary = roles["primary"]
    manager_name = schedule.manager or (
        (p.manager if (p := _person(config, primary.person)) is not None else None) if primary else None
    )
    manager = None
    if manager_name:
        mp = _person(config, manager_name)
        why = "the schedule's manager" if schedule.manager else f"manager of {primary.person if primary else '?'}"
        manager = Assignment(manager_name, "manager", why, None, None, list(mp.contacts) if mp else [])
    team_cfg = next((t for t in config.teams if t.name == team), None)
    fallback = list(schedule.fallback) or ([f"team:{team}"] if team_cfg is not None else [])
    return OnCall(team, when, schedule.timezone, primary, roles["secondary"], manager, fallback)


def contact_channels(config: SystemConfig, person: str) -> list[ChannelConfig | str]:
    """Return the channels that reach ``person``: email channels addressed to them alone.

    A name nothing declares stays a str, so delivery records it as an unknown channel.
    """
    p = _person(config, person)
    if p is None:
        return []
    declared = {c.name: c for c in config.notifications}
    out: list[ChannelConfig | str] = []
    for name in p.contacts:
        ch = declared.get(name)
        if ch is None:
            out.append(name)
        elif ch.kind == ChannelKind.EMAIL and p.email:
            # one record per person: the channel's SMTP settings, the person's address
            out.append(ch.model_copy(update={"name": f"{name}:{p.name}", "to": [p.email]}))
        else:
            out.append(ch.model_copy(update={"name": f"{name}:{p.name}"}))
    return out


_parse_target = parse_oncall_target


def expand_oncall_targets(
    config: SystemConfig, targets: Sequence[ChannelConfig | str], at: datetime, *, base_dir: Path | None = None
) -> tuple[list[ChannelConfig | str], list[dict[str, Any]]]:
    """Replace ``oncall:<team>[:role]`` targets by the on-call person's channels (a gap by the fallback).

    Returns:
        ``(channels, pages)``: the channels to deliver to and one record per ``oncall:`` target
        saying who was paged and why (or that nobody was on call and which fallback was paged).
    """
    from rcaflows.triage.escalation import resolve_targets

    out: list[ChannelConfig | str] = []
    pages: list[dict[str, Any]] = []
    for tgt in targets:
        if not (isinstance(tgt, str) and tgt.startswith(TARGET_PREFIX)):
            out.append(tgt)
            continue
        team, role = _parse_target(tgt)
        answer = who_is_on_call(config, team, at, base_dir=base_dir)
        held = None if answer is None else getattr(answer, role, None)
        if held is not None:
            chans = contact_channels(config, held.person)
            pages.append(
                {"target": tgt, "team": team, "role": role, "person": held.person, "why": held.why, "gap": False}
            )
            out += chans
            if chans:
                continue
            pages[-1]["gap"] = True
            pages[-1]["why"] = f"{held.person} has no contact channel"
        fallback = answer.fallback if answer is not None else [f"team:{team}"]
        fb = resolve_targets(fallback, config)
        if held is None:
            reason = f"nobody holds {role} of {team} at {at.isoformat()}" if answer else f"team {team} has no schedule"
            pages.append({"target": tgt, "team": team, "role": role, "person": None, "why": reason, "gap": True})
        pages[-1]["fallback"] = fb
        out += fb
    seen: set[str] = set()
    unique: list[ChannelConfig | str] = []
    for c in out:
        name = c.name if isinstance(c, ChannelConfig) else c
        if name not in seen:
            seen.add(name)
            unique.append(c)
    return unique, pages


def page_dispatch(at: datetime | None = None, *, base_dir: Path | None = None) -> Callable[..., Any]:
    """Return a ``dispatch``-compatible callable that pages on-call people for ``oncall:`` targets.

    Hand it to :func:`rcaflows.triage.escalation.escalate_due` (``dispatch=page_dispatch(at)``);
    it records one ``note`` event per paged target (who and why, or the gap and its fallback),
    then delivers through :func:`rcaflows.notify.dispatch`.
    """

    def send(
        store: Any,
        incident_ref: Any,
        channels: Sequence[ChannelConfig | str],
        reason: str,
        actor: str,
        *,
        config: SystemConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        force: bool = False,
    ) -> Any:
        from rcaflows.incidents import EventKind, get_incident, record_event
        from rcaflows.notify import dispatch

        when = utc(at) if at is not None else now_utc()
        expanded, pages = (
            expand_oncall_targets(config, channels, when, base_dir=base_dir) if config is not None else (channels, [])
        )
        if pages:
            with store.session() as s:
                inc = get_incident(s, incident_ref)
                for page in pages:
                    record_event(s, inc, EventKind.NOTE, actor, {"oncall": page, "reason": reason}, at=when)
        return dispatch(store, incident_ref, expanded, reason, actor, config=config, sleep=sleep, force=force)

    return send


def _boundaries(schedule: ScheduleConfig, start: datetime, end: datetime, base_dir: Path | None) -> list[datetime]:
    """Return every instant in ``[start, end)`` at which coverage may change (coverage is constant between)."""
    tz = ZoneInfo(schedule.timezone)
    points = {start}
    for layer in schedule.layers:
        rule = _rule(layer, tz)
        points |= {d for d in rule.between(start.astimezone(tz), end.astimezone(tz), inc=True)}
        if layer.restrict is not None:
            day = start.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
            while day < end:
                for hm in layer.restrict:
                    h, m = _hm(hm)
                    points.add(day.replace(hour=h, minute=m))
                day += timedelta(days=1)  # aware arithmetic is wall-clock: midnight stays midnight
    for o in schedule.overrides:
        points |= {_local(o.start, tz), _local(o.end, tz)}
    for s in calendar_shifts(schedule, start, end, base_dir):
        points |= {s.start} | ({s.end} if s.end else set())
    return sorted(p for p in points if start <= p < end)


def gaps(
    config: SystemConfig, schedule: ScheduleConfig, start: datetime, end: datetime, *, base_dir: Path | None = None
) -> list[tuple[datetime, datetime]]:
    """Return the spans in ``[start, end)`` in which nobody holds the schedule's primary role."""
    points = _boundaries(schedule, start, end, base_dir)
    out: list[tuple[datetime, datetime]] = []
    for n, p in enumerate(points):
        answer = who_is_on_call(config, schedule.team, p, base_dir=base_dir)
        if answer is not None and answer.gap:
            nxt = points[n + 1] if n + 1 < len(points) else end
            if out and out[-1][1] == p:
                out[-1] = (out[-1][0], nxt)
            else:
                out.append((p, nxt))
    return out


def gap_problems(
    config: SystemConfig, start: datetime, *, base_dir: Path | None = None
) -> list[tuple[tuple[str | int, ...], str]]:
    """Return one problem per schedule with a gap (nobody primary) within ``oncall.check_horizon`` of ``start``."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    end = start + config.oncall.check_horizon
    for i, s in enumerate(config.oncall.schedules):
        try:
            found = gaps(config, s, start, end, base_dir=base_dir)
        except ConfigError as exc:
            out.append((("oncall", "schedules", i, "ical"), str(exc)))
            continue
        if found:
            shown = "; ".join(f"{a:%Y-%m-%d %H:%M}..{b:%Y-%m-%d %H:%M} UTC" for a, b in found[:3])
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            out.append(
                (
                    ("oncall", "schedules", i),
                    f"team {s.team!r} has nobody on call {shown}{more} (checked {start:%Y-%m-%d} + "
                    f"{config.oncall.check_horizon.days} days); the fallback {s.fallback or ['team:' + s.team]} "
                    "would be paged",
                )
            )
    return out
