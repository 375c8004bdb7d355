"""Learn from the incident history: stricter per-check thresholds where the history says a check was noise.

An incident resolved as ``false_positive`` or ``duplicate`` counts against every failing check
it recorded (``details.checks``); one resolved ``fixed`` or ``mitigated`` counts for them.
:func:`propose` turns that history into :class:`~rcaflows.config.learning.CheckTuning` rules (a
threshold just above the evidence the false alarms carried) or, when the false alarms were
single blips the recorded evidence cannot separate, a longer pending period, and
:func:`evaluate` measures the change with the existing backtest (:func:`rcaflows.backtest.backtest`,
that is :func:`rcaflows.pipeline.detect_and_open` per replayed hour): each incident of the
history is *opened*, *merged* (its component is inside another replayed incident) or *missed*
before and after the change. A proposal is safe when it removes a false alarm and misses no
incident the history kept. :func:`write_tuning` writes the rules into the config YAML with
ruamel's round-trip mode (comments and layout stay) and validates the result before replacing it.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from rcaflows.backtest import BacktestResult, backtest
from rcaflows.config.learning import CheckTuning
from rcaflows.config.models import AlertingConfig, SystemConfig
from rcaflows.detection.tuning import check_key
from rcaflows.errors import ConfigError
from rcaflows.incidents import Incident, Store
from rcaflows.timeutil import utc

__all__ = [
    "AGAINST",
    "FOR",
    "CheckRecord",
    "HistoryIncident",
    "IncidentOutcome",
    "Proposal",
    "TuneResult",
    "check_history",
    "evaluate",
    "history_incidents",
    "propose",
    "replay_span",
    "tune",
    "write_tuning",
]

#: Resolutions that count against the checks that raised the incident.
AGAINST = frozenset({"false_positive", "duplicate"})
#: Resolutions that say the checks were right.
FOR = frozenset({"fixed", "mitigated"})
#: A proposed bar sits this far above the largest evidence a false alarm carried.
MARGIN = 0.1


@dataclass(frozen=True)
class HistoryIncident:
    """One incident of the history, as the tuner reads it."""

    key: str
    fingerprint: str
    type: str
    component: str
    components: tuple[str, ...]
    resolution: str | None
    detected_at: datetime
    last_seen_at: datetime
    occurrences: int
    checks: tuple[dict[str, Any], ...]

    @property
    def false_alarm(self) -> bool:
        """Return whether it was resolved as a false positive or a duplicate."""
        return self.resolution in AGAINST


@dataclass
class CheckRecord:
    """What the history says about one check (``detector/check/component/metric``)."""

    key: str
    detector: str
    check: str
    component: str
    metric: str | None
    against: list[str] = field(default_factory=list)
    supported: list[str] = field(default_factory=list)
    false_z: list[float] = field(default_factory=list)
    false_rel: list[float] = field(default_factory=list)
    false_p: list[float] = field(default_factory=list)
    true_z: list[float] = field(default_factory=list)


def _resolution(inc: Incident) -> str | None:
    res = (inc.details or {}).get("resolution") or {}
    return str(res.get("reason")) if res.get("reason") else None


def history_incidents(
    session: Any, system: str, since: datetime | None = None, until: datetime | None = None
) -> list[HistoryIncident]:
    """Return the system's incidents detected in ``[since, until)``, oldest first."""
    stmt = sa.select(Incident).where(Incident.system == system)
    if since is not None:
        stmt = stmt.where(Incident.detected_at >= utc(since))
    if until is not None:
        stmt = stmt.where(Incident.detected_at < utc(until))
    out = []
    for inc in session.scalars(stmt.order_by(Incident.detected_at, Incident.id)):
        details = inc.details or {}
        out.append(
            HistoryIncident(
                key=inc.key,
                fingerprint=inc.fingerprint,
                type=inc.type.value,
                component=inc.component,
                components=tuple(details.get("components") or [inc.component]),
                resolution=_resolution(inc),
                detected_at=utc(inc.detected_at),
                last_seen_at=utc(inc.last_seen_at),
                occurrences=inc.occurrences,
                checks=tuple(c for c in details.get("checks") or [] if isinstance(c, dict)),
            )
        )
    return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(float(value)):
        return None
    return float(value)


def check_history(incidents: list[HistoryIncident]) -> dict[str, CheckRecord]:
    """Return, per check key, the incidents that count against and for it and the evidence they carried."""
    out: dict[str, CheckRecord] = {}
    for inc in incidents:
        if inc.resolution not in AGAINST and inc.resolution not in FOR:
            continue
        for c in inc.checks:
            if c.get("status") not in (None, "fail"):
                continue
            key = check_key(c)
            rec = out.get(key) or CheckRecord(
                key, str(c.get("detector")), str(c.get("check")), str(c.get("component")), c.get("metric")
            )
            out[key] = rec
            details = c.get("details") or {}
            z, rel, p = _num(details.get("robust_z")), _num(details.get("relative_change")), _num(c.get("p_value"))
            if inc.false_alarm:
                rec.against.append(inc.key)
                rec.false_z += [abs(z)] if z is not None else []
                rec.false_rel += [abs(rel)] if rel is not None else []
                rec.false_p += [p] if p is not None else []
            else:
                rec.supported.append(inc.key)
                rec.true_z += [abs(z)] if z is not None else []
    return out


class Proposal(BaseModel):
    """A change ``rcaflows tune`` proposes: per-check rules, or a pending period."""

    rules: list[CheckTuning] = Field(default_factory=list, description="Per-check threshold overrides.")
    alerting: AlertingConfig | None = Field(None, description="A new pending period (M of N runs), if proposed.")
    notes: list[str] = Field(default_factory=list, description="Checks with false alarms no rule could cover, and why.")

    def is_empty(self) -> bool:
        """Return whether nothing is proposed."""
        return not self.rules and self.alerting is None

    def apply(self, config: SystemConfig) -> SystemConfig:
        """Return ``config`` with the proposal in it (a rule replaces an existing one of the same key)."""
        mine = {r.key() for r in self.rules}
        checks = [r for r in config.learning.checks if r.key() not in mine] + list(self.rules)
        update: dict[str, Any] = {"learning": config.learning.model_copy(update={"checks": checks})}
        if self.alerting is not None:
            update["alerting"] = self.alerting
        return config.model_copy(update=update)


def _rule(rec: CheckRecord) -> tuple[CheckTuning | None, str]:
    reason = f"{len(rec.against)} false alarm(s): {', '.join(sorted(set(rec.against)))}"
    base = dict(detector=rec.detector, check=rec.check, component=rec.component, metric=rec.metric, reason=reason)
    if rec.false_z:
        bar = round(max(rec.false_z) * (1 + MARGIN), 1)
        return CheckTuning(**base, z_threshold=bar), ""
    if rec.false_rel:
        bar = round(max(rec.false_rel) * (1 + MARGIN), 3)
        return CheckTuning(**base, min_relative_change=bar), ""
    if rec.false_p:
        bar = min(rec.false_p) / 2
        if bar <= 0:
            return None, f"{rec.key}: its false alarms had p = 0; no alpha can hold them back"
        return CheckTuning(**base, alpha=float(f"{bar:.3g}")), ""
    return None, f"{rec.key}: its false alarms recorded no robust z, relative change or p-value to raise a bar on"


def propose(config: SystemConfig, incidents: list[HistoryIncident], *, min_false: int = 1) -> Proposal:
    """Return the change the history calls for.

    Every check with at least ``min_false`` false alarms gets a rule with a bar :data:`MARGIN`
    above the largest evidence those alarms carried. When no rule can be set and every false
    alarm was a single detection (occurrences 1), the pending period is lengthened by one run
    instead: a blip then stays pending. Checks that also raised kept incidents still get their
    rule; :func:`evaluate` shows whether one of those incidents would be missed.
    """
    records = check_history(incidents)
    rules: list[CheckTuning] = []
    notes: list[str] = []
    for rec in sorted(records.values(), key=lambda r: r.key):
        if len(rec.against) < min_false:
            continue
        rule, note = _rule(rec)
        if rule is not None:
            if rec.true_z and rule.z_threshold is not None and min(rec.true_z) < rule.z_threshold:
                notes.append(
                    f"{rec.key}: also raised {', '.join(sorted(set(rec.supported)))} with robust z "
                    f"{min(rec.true_z):.3g} < {rule.z_threshold:g}; the backtest shows whether it is lost"
                )
            rules.append(rule)
        else:
            notes.append(note)
    alerting = None
    false = [i for i in incidents if i.false_alarm]
    if not rules and false and all(i.occurrences <= 1 for i in false):
        a = config.alerting
        runs = max(a.pending_runs, a.pending_failures + 1)
        alerting = a.model_copy(update={"pending_failures": a.pending_failures + 1, "pending_runs": runs})
        notes.append(
            f"every false alarm ({', '.join(i.key for i in false)}) was seen once: pending period "
            f"{a.pending_failures} of {a.pending_runs} runs → {alerting.pending_failures} of {alerting.pending_runs}"
        )
    return Proposal(rules=rules, alerting=alerting, notes=notes)


class IncidentOutcome(BaseModel):
    """What happens to one incident of the history in the replay, before and after the change."""

    key: str
    component: str
    resolution: str | None
    false_alarm: bool
    before: str = Field(description="opened, merged or missed in the replay with the current config.")
    after: str = Field(description="opened, merged or missed in the replay with the proposal.")


class TuneResult(BaseModel):
    """A proposal and its measured effect."""

    system: str
    start: datetime
    end: datetime
    proposal: Proposal
    before: dict[str, dict[str, int]] = Field(description="Backtest totals per action and type, current config.")
    after: dict[str, dict[str, int]] = Field(description="Backtest totals with the proposal.")
    opened_before: int
    opened_after: int
    incidents: list[IncidentOutcome] = Field(default_factory=list)

    @property
    def removed_false(self) -> list[str]:
        """Return the false alarms the replay opened before and no longer opens (missed or merged) after."""
        return [o.key for o in self.incidents if o.false_alarm and o.before == "opened" and o.after != "opened"]

    @property
    def lost_true(self) -> list[str]:
        """Return the kept incidents the replay found before (opened or merged) and misses after."""
        return [o.key for o in self.incidents if not o.false_alarm and o.before != "missed" and o.after == "missed"]

    @property
    def safe(self) -> bool:
        """Return whether the change removes a false alarm and loses no kept incident."""
        return bool(self.removed_false) and not self.lost_true


def _replay(config: SystemConfig, start: datetime, end: datetime) -> tuple[BacktestResult, list[dict[str, Any]]]:
    """Run the backtest into a scratch SQLite file and return its result and the incidents it opened."""
    with tempfile.TemporaryDirectory(prefix="rcaflows-tune-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'replay.db'}"
        result = backtest(config, start, end, store_url=url)
        store = Store(url)
        try:
            with store.session(readonly=True) as s:
                opened = [
                    {
                        "fingerprint": i.fingerprint,
                        "components": set((i.details or {}).get("components") or [i.component]) | {i.component},
                    }
                    for i in s.scalars(sa.select(Incident))
                ]
        finally:
            store.dispose()
    return result, opened


def _fate(inc: HistoryIncident, replayed: list[dict[str, Any]]) -> str:
    if any(r["fingerprint"] == inc.fingerprint for r in replayed):
        return "opened"
    if any(inc.component in r["components"] for r in replayed):
        return "merged"
    return "missed"


def replay_span(incidents: list[HistoryIncident], config: SystemConfig) -> tuple[datetime, datetime]:
    """Return the replay span covering the incidents: one window before the first detection to the last sighting."""
    if not incidents:
        raise ConfigError("tune: no incidents in the history to replay; pass --from and --to")
    start = min(i.detected_at for i in incidents) - config.window.current
    end = max(max(i.last_seen_at, i.detected_at) for i in incidents)
    return start, end


def evaluate(
    config: SystemConfig, proposal: Proposal, incidents: list[HistoryIncident], start: datetime, end: datetime
) -> TuneResult:
    """Replay ``[start, end]`` with the current config and with the proposal; compare what each finds."""
    before, replay_before = _replay(config, start, end)
    # nothing proposed: the "after" is the "before" (no second replay)
    tuned = proposal.apply(config)
    after, replay_after = (before, replay_before) if proposal.is_empty() else _replay(tuned, start, end)
    in_span = [i for i in incidents if start < i.detected_at <= end]
    outcomes = [
        IncidentOutcome(
            key=i.key,
            component=i.component,
            resolution=i.resolution,
            false_alarm=i.false_alarm,
            before=_fate(i, replay_before),
            after=_fate(i, replay_after),
        )
        for i in in_span
    ]
    return TuneResult(
        system=config.system.name,
        start=utc(start),
        end=utc(end),
        proposal=proposal,
        before=before.totals(),
        after=after.totals(),
        opened_before=len(replay_before),
        opened_after=len(replay_after),
        incidents=outcomes,
    )


def tune(
    config: SystemConfig,
    store: Store,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    since: datetime | None = None,
    min_false: int = 1,
) -> TuneResult:
    """Propose a change from the store's history of the config's system and measure it with the backtest.

    Args:
        config: the monitored system (its current thresholds are the "before").
        store: the incident store holding the history.
        start: replay from (default: one window before the first incident detected since ``since``).
        end: replay until (default: the last sighting of those incidents).
        since: read incidents detected from this time on (default: all).
        min_false: false alarms a check needs before a rule is proposed for it.
    """
    with store.session(readonly=True) as s:
        incidents = history_incidents(s, config.system.name, since=since)
    proposal = propose(config, incidents, min_false=min_false)
    span_start, span_end = replay_span(incidents, config) if start is None or end is None else (start, end)
    return evaluate(config, proposal, incidents, start or span_start, end or span_end)


def _splice(text: str, doc: Any, key: str, block: str) -> str:
    """Return ``text`` with the top-level ``key``'s block replaced by ``block`` (appended when absent).

    Only that block's lines change: the rest of the file stays byte for byte, comments and folding
    included (a round-trip dump of the whole document would refold long plain scalars). Comment and
    blank lines right before the next top-level key stay with that key.
    """
    lines = text.splitlines(keepends=True)
    dumped = block.splitlines(keepends=True)
    while len(dumped) > 1 and (not dumped[-1].strip() or dumped[-1].startswith("#")):
        dumped.pop()  # ruamel hands the next key's leading comments to this block; the text keeps them
    block = "".join(dumped)
    if key not in doc:
        sep = "" if not text or text.endswith("\n") else "\n"
        return text + sep + block
    start = doc.lc.key(key)[0]
    later = [doc.lc.key(k)[0] for k in doc if doc.lc.key(k)[0] > start]
    end = min(later) if later else len(lines)
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


def write_tuning(path: str | os.PathLike[str], proposal: Proposal) -> Path:
    """Write the proposal into the config YAML at ``path``, keeping its other content and comments.

    Rules go under ``learning.checks`` (one with the same ``detector/check/component/metric``
    replaces the old one); a pending period into ``alerting``. Only the ``learning`` (and
    ``alerting``) block of the file is rewritten, with ruamel's round-trip dump (its own comments
    kept); every other line stays as it was. The edited text is validated with the config loader
    before it replaces the file, so a write never leaves an invalid config.

    Raises:
        ConfigError: naming the file when it is not a YAML mapping or the edited config does not validate.
    """
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from rcaflows.config.loader import load_config

    p = Path(path)
    yaml = YAML()  # round-trip: comments, order and quoting are kept
    yaml.preserve_quotes = True
    yaml.representer.add_representer(type(None), lambda rep, _v: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    try:
        text = p.read_text(encoding="utf-8")
        doc = yaml.load(text)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror or exc}") from exc
    except Exception as exc:  # ruamel's parser errors carry the line
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: expected a YAML mapping at the top level, got {type(doc).__name__}")

    def dump(key: str, value: Any) -> str:
        buf = io.StringIO()
        yaml.dump(CommentedMap([(key, value)]), buf)
        return buf.getvalue()

    out = text
    if proposal.rules:
        learning = doc.get("learning")
        learning = CommentedMap() if learning is None else learning
        if not isinstance(learning, dict):
            raise ConfigError(f"{p}: learning: expected a mapping, got {type(learning).__name__}")
        checks = learning.get("checks")
        if checks is None:
            checks = learning["checks"] = CommentedSeq()
        if not isinstance(checks, list):
            raise ConfigError(f"{p}: learning.checks: expected a list, got {type(checks).__name__}")
        by_key = {
            "/".join(str(c.get(k) or "*") for k in ("detector", "check", "component", "metric")): n
            for n, c in enumerate(checks)
            if isinstance(c, dict)
        }
        for rule in proposal.rules:
            entry = CommentedMap((k, v) for k, v in rule.model_dump(mode="json", exclude_none=True).items())
            if rule.key() in by_key:
                checks[by_key[rule.key()]] = entry
            else:
                checks.append(entry)
        out = _splice(out, doc, "learning", dump("learning", learning))
    if proposal.alerting is not None:
        doc = yaml.load(out)  # line numbers of the text as edited so far
        alerting = doc.get("alerting")
        alerting = CommentedMap() if alerting is None else alerting
        if not isinstance(alerting, dict):
            raise ConfigError(f"{p}: alerting: expected a mapping, got {type(alerting).__name__}")
        alerting["pending_failures"] = proposal.alerting.pending_failures
        alerting["pending_runs"] = proposal.alerting.pending_runs
        out = _splice(out, doc, "alerting", dump("alerting", alerting))
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(out)
        load_config(tmp)  # relative paths in the config resolve against the same directory
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
