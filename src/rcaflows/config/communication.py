"""Static checks of the on-call and communication sections (issue 15), run by the config loader.

Only the config models and the standard library are imported here: the loader runs these while it
validates a config, below every engine package. Time-dependent checks (gaps in a schedule) and
template rendering are done by ``rcaflows validate`` through :mod:`rcaflows.triage.oncall` and
:mod:`rcaflows.notify.audiences`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rcaflows.config.models import ScheduleConfig, SystemConfig

__all__ = [
    "communication_problems",
    "hm",
    "local_time",
    "oncall_problems",
    "overlapping_overrides",
    "parse_oncall_target",
]

TARGET_PREFIX = "oncall:"


def hm(text: str) -> tuple[int, int]:
    """Return ``(hour, minute)`` of an ``HH:MM`` string."""
    hh, mm = text.split(":")
    return int(hh), int(mm)


def local_time(value: datetime, tz: ZoneInfo) -> datetime:
    """Return ``value`` in ``tz``: a naive value is wall-clock time there."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def parse_oncall_target(target: str) -> tuple[str, str]:
    """Return ``(team, role)`` of an ``oncall:<team>[:role]`` target (role defaults to primary)."""
    rest = target[len(TARGET_PREFIX) :]
    team, _, role = rest.partition(":")
    return team, role or "primary"


def overlapping_overrides(schedule: ScheduleConfig) -> list[tuple[int, int]]:
    """Return index pairs of overrides of the same role whose spans overlap."""
    tz = ZoneInfo(schedule.timezone)
    spans = [(i, o.role, local_time(o.start, tz), local_time(o.end, tz)) for i, o in enumerate(schedule.overrides)]
    return [
        (i, j)
        for n, (i, ri, s0, e0) in enumerate(spans)
        for (j, rj, s1, e1) in spans[n + 1 :]
        if ri == rj and s0 < e1 and s1 < e0
    ]


def _hm_ok(text: str) -> bool:
    try:
        h, m = hm(text)
    except ValueError:
        return False
    return 0 <= h < 24 and 0 <= m < 60


def oncall_problems(config: SystemConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Return ``(field path, problem)`` for on-call settings that refer to nothing or contradict themselves."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    oc = config.oncall
    people = {p.name for p in oc.people}
    teams = {t.name for t in config.teams}
    channels = {c.name for c in config.notifications}
    known = sorted(people)

    def person(path: tuple[str | int, ...], name: str | None) -> None:
        if name is not None and name not in people:
            out.append((path, f"unknown person {name!r}; declare them under 'oncall.people' (known: {known})"))

    for i, p in enumerate(oc.people):
        person(("oncall", "people", i, "manager"), p.manager)
        for j, ch in enumerate(p.contacts):
            if ch not in channels:
                out.append((("oncall", "people", i, "contacts", j), f"unknown channel {ch!r} to reach {p.name!r}"))
    seen: set[str] = set()
    for i, s in enumerate(oc.schedules):
        at: tuple[str | int, ...] = ("oncall", "schedules", i)
        if s.team not in teams:
            out.append(((*at, "team"), f"unknown team {s.team!r}; expected one of {sorted(teams)}"))
        if s.team in seen:
            out.append(((*at, "team"), f"team {s.team!r} has two schedules; merge their layers into one"))
        seen.add(s.team)
        if not s.layers and not s.overrides and not s.ical:
            out.append((at, f"schedule of team {s.team!r} has no layer, override or calendar: nobody is ever on call"))
        person((*at, "manager"), s.manager)
        for j, ly in enumerate(s.layers):
            for k, m in enumerate(ly.members):
                person((*at, "layers", j, "members", k), m)
            if ly.restrict is not None:
                bad = [t for t in ly.restrict if not _hm_ok(t)]
                if bad:
                    out.append(((*at, "layers", j, "restrict"), f"expected local times 'HH:MM', got {bad}"))
                elif ly.restrict[0] == ly.restrict[1]:
                    out.append(((*at, "layers", j, "restrict"), "from equals to: the layer would cover nothing"))
        for j, o in enumerate(s.overrides):
            person((*at, "overrides", j, "person"), o.person)
            if local_time(o.end, ZoneInfo(s.timezone)) <= local_time(o.start, ZoneInfo(s.timezone)):
                out.append(((*at, "overrides", j, "end"), "override ends before it starts"))
        for j, k in overlapping_overrides(s):
            a, b = s.overrides[j], s.overrides[k]
            out.append(
                (
                    (*at, "overrides", k),
                    f"overrides {j} ({a.person}, {a.start}..{a.end}) and {k} ({b.person}, {b.start}..{b.end}) of "
                    f"team {s.team!r} overlap in role {a.role}; shorten or remove one",
                )
            )
        for j, tgt in enumerate(s.fallback):
            if tgt.startswith("team:"):
                if tgt[5:] not in teams:
                    out.append(((*at, "fallback", j), f"unknown team {tgt[5:]!r}"))
            elif tgt not in channels:
                out.append(((*at, "fallback", j), f"unknown channel {tgt!r}"))
    scheduled = {s.team for s in oc.schedules}
    if oc.roles.comms_team is not None and oc.roles.comms_team not in scheduled:
        out.append(
            (
                ("oncall", "roles", "comms_team"),
                f"team {oc.roles.comms_team!r} has no on-call schedule to take the comms lead from",
            )
        )
    for i, pol in enumerate(config.escalation):
        targets: list[tuple[tuple[str | int, ...], str]] = [
            (("escalation", i, "levels", j, "notify", k), t)
            for j, lv in enumerate(pol.levels)
            for k, t in enumerate(lv.notify)
        ]
        for fld in ("immediate", "management", "coordinator", "executive"):
            targets += [(("escalation", i, fld, k), t) for k, t in enumerate(getattr(pol, fld))]
        for path, tgt in targets:
            if not tgt.startswith(TARGET_PREFIX):
                continue
            team, role = parse_oncall_target(tgt)
            if team not in scheduled:
                out.append((path, f"target {tgt!r}: team {team!r} has no on-call schedule under 'oncall.schedules'"))
            if role not in ("primary", "secondary", "manager"):
                out.append((path, f"target {tgt!r}: unknown role {role!r}; expected primary, secondary or manager"))
    return out


def communication_problems(config: SystemConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Return ``(field path, problem)`` for audiences without channels, rules without deadlines, unknown names."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    comm = config.communication
    channels = {c.name for c in config.notifications}
    components = {c.name for c in config.components}
    nodes = {n.name for n in config.lineage.nodes}
    seen: set[str] = set()
    for i, a in enumerate(comm.audiences):
        at: tuple[str | int, ...] = ("communication", "audiences", i)
        if a.name in seen:
            out.append(((*at, "name"), f"duplicate audience name {a.name!r}"))
        seen.add(a.name)
        if not a.channels:
            out.append(((*at, "channels"), f"audience {a.name!r} has no channel: its updates would go nowhere"))
        for j, ch in enumerate(a.channels):
            if ch not in channels:
                out.append(((*at, "channels", j), f"unknown channel {ch!r}; declare it under 'notifications'"))
    for i, r in enumerate(comm.regulatory):
        at = ("communication", "regulatory", i)
        if r.deadline is None:
            out.append(
                ((*at, "deadline"), f"regulatory rule {r.name!r} has no deadline; set one (e.g. 72h for GDPR Art. 33)")
            )
        if not r.channels:
            out.append(((*at, "channels"), f"regulatory rule {r.name!r} has no channel: nobody would review the draft"))
        for j, ch in enumerate(r.channels):
            if ch not in channels:
                out.append(((*at, "channels", j), f"unknown channel {ch!r}; declare it under 'notifications'"))
        if r.personal_data and not comm.personal_data:
            out.append(
                ((*at, "personal_data"), "applies to personal data, but 'communication.personal_data' names nothing")
            )
    for i, name in enumerate(comm.personal_data):
        if name not in components and name not in nodes:
            out.append((("communication", "personal_data", i), f"unknown component or lineage node {name!r}"))
    for name in comm.status_page.public_components:
        if name not in components:
            out.append((("communication", "status_page", "public_components", name), f"unknown component {name!r}"))
    for i, v in enumerate(config.vendors):
        for j, comp in enumerate(v.components):
            if comp not in components:
                out.append((("vendors", i, "components", j), f"unknown component {comp!r} for vendor {v.name!r}"))
        if v.review_channel is not None and v.review_channel not in channels:
            problem = f"unknown channel {v.review_channel!r}; declare it under 'notifications'"
            out.append((("vendors", i, "review_channel"), problem))
    teams = {t.name for t in config.teams}
    for j, target in enumerate(config.oncall.roles.specialists):
        name = target.removeprefix("team:")
        if not target.startswith(TARGET_PREFIX) and name not in channels and name not in teams:
            problem = f"unknown target {target!r}; expected a channel, team:<name> or oncall:<team>"
            out.append((("oncall", "roles", "specialists", j), problem))
    return out
