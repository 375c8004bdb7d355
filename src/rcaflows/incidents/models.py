"""The incident store's tables: incidents, their append-only audit log, and RCA runs.

Enums are stored as their readable text values and timestamps as UTC; on SQLite, which has no
time zones, :class:`UTCDateTime` hands back aware UTC datetimes all the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column
from sqlalchemy.types import TypeDecorator

from rcaflows.errors import StoreError
from rcaflows.vocab import OPEN_STATES, IncidentState, IncidentType, Priority, Severity


class EventKind(StrEnum):
    """What an audit-log entry records.

    Every state change, the triage included, is a ``transition`` event, so replaying the
    ``transition`` events from ``detected`` reproduces an incident's state.
    """

    DETECTED = "detected"
    TRIAGED = "triaged"  # severity/priority/team changed without a state change (re-triage)
    TRANSITION = "transition"
    DUPLICATE = "duplicate"
    NOTE = "note"
    RCA_STARTED = "rca_started"
    RCA_PHASE = "rca_phase"
    RCA_COMPLETED = "rca_completed"
    RCA_FAILED = "rca_failed"
    REPORT = "report"
    NOTIFICATION = "notification"
    ESCALATION = "escalation"
    INHIBITED = "inhibited"  # a downstream candidate this incident explains was not opened
    MITIGATION = "mitigation"  # a runbook action proposed, approved, rejected, run, failed or refused
    VALIDATION = "validation"  # a watch period after a fix: started, clean run, regressed, validated
    SUBSCRIBER_FAILED = "subscriber_failed"  # a side effect of a committed change failed (lifecycle_events)


class RcaStatus(StrEnum):
    """Status of one RCA run."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive datetimes are refused, not guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp {value!r} has no timezone; give aware UTC datetimes")
        value = value.astimezone(UTC)
        # SQLite keeps no offset: store naive UTC text, and re-attach UTC on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text_enum(enum_cls: type[StrEnum]) -> sa.Enum:
    """Return a column type that stores ``enum_cls`` members as their readable values."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    """Declarative base of the incident store."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}  # noqa: RUF012


class Incident(Base):
    """One incident: what broke, how bad, who owns it, and where it is in its lifecycle.

    ``version`` is SQLAlchemy's version counter: an UPDATE made from a stale read matches no
    row and fails, so two racing operations can never both apply from the same state.
    Reassign ``details`` rather than mutating it in place (plain JSON, no change tracking).
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(sa.String(200), index=True)
    type: Mapped[IncidentType] = mapped_column(_text_enum(IncidentType))
    subtype: Mapped[str] = mapped_column(sa.String(200))
    title: Mapped[str] = mapped_column(sa.String(500))
    component: Mapped[str] = mapped_column(sa.String(200))
    metric: Mapped[str | None] = mapped_column(sa.String(200))
    severity: Mapped[Severity] = mapped_column(_text_enum(Severity))
    priority: Mapped[Priority] = mapped_column(_text_enum(Priority))
    team: Mapped[str] = mapped_column(sa.String(200))
    fingerprint: Mapped[str] = mapped_column(sa.String(200), index=True)
    state: Mapped[IncidentState] = mapped_column(_text_enum(IncidentState), index=True)
    detected_at: Mapped[datetime]
    triaged_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    investigating_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime]
    occurrences: Mapped[int] = mapped_column(default=1)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        sa.Index("ix_incidents_system_fingerprint_state", "system", "fingerprint", "state"),
        # list_incidents (newest first): without it, listing 100,000 incidents sorts them all
        sa.Index("ix_incidents_detected_at_id", "detected_at", "id"),
    )

    @property
    def key(self) -> str:
        """Return the readable key, e.g. ``INC-0042``."""
        return incident_key(self.id)

    @property
    def is_open(self) -> bool:
        """Return True while the incident is in one of ``vocab.OPEN_STATES``."""
        return self.state in OPEN_STATES

    def __repr__(self) -> str:
        return f"<Incident {self.key if self.id is not None else '(new)'} {self.state} {self.title!r}>"


def incident_key(incident_id: int) -> str:
    """Return the readable key of an incident id: 42 -> ``INC-0042``."""
    return f"INC-{incident_id:04d}"


class IncidentEvent(Base):
    """One entry of an incident's audit log; rows are never updated or deleted.

    The ORM refuses updates and deletes (listeners below), and so does the database itself
    (triggers created with the table on SQLite and PostgreSQL).
    """

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[EventKind] = mapped_column(_text_enum(EventKind))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __repr__(self) -> str:
        return f"<IncidentEvent {self.id} incident={self.incident_id} {self.kind} by {self.actor}>"


class RcaRun(Base):
    """One root-cause analysis run; re-running creates a new row, never overwrites an old one."""

    __tablename__ = "rca_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    flow_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    inputs_fingerprint: Mapped[str] = mapped_column(sa.String(200))
    code_version: Mapped[str] = mapped_column(sa.String(100))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[RcaStatus] = mapped_column(_text_enum(RcaStatus))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    results: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON())
    report_html: Mapped[str | None] = mapped_column(sa.String(1000))
    report_md: Mapped[str | None] = mapped_column(sa.String(1000))

    def __repr__(self) -> str:
        return f"<RcaRun {self.id} incident={self.incident_id} {self.status}>"


# -- one length limit on every store: PostgreSQL refuses an over-long varchar, SQLite would keep it --


_LIMITS: dict[type, list[tuple[str, int]]] = {}


def _string_limits(mapper: Mapper[Any]) -> list[tuple[str, int]]:
    """Return (attribute, max length) of the mapper's length-limited string columns."""
    limits = _LIMITS.get(mapper.class_)
    if limits is None:
        limits = _LIMITS[mapper.class_] = [
            (mapper.get_property_by_column(col).key, int(col.type.length))
            for col in mapper.columns
            if isinstance(col.type, sa.String) and col.type.length and not isinstance(col.type, sa.Enum)
        ]
    return limits


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def _check_lengths(mapper: Mapper[Any], connection: sa.Connection, target: Any) -> None:
    for key, limit in _string_limits(mapper):
        value = getattr(target, key, None)
        if isinstance(value, str) and len(value) > limit:
            raise StoreError(
                f"{mapper.class_.__tablename__}.{key}: {len(value)} characters ({value[:40]!r}…) is longer than the "
                f"{limit} the incident store holds; shorten it (config names are limited to {limit} by validation)"
            )


# -- append-only audit log, enforced in the ORM ... -------------------------------------------


@event.listens_for(IncidentEvent, "before_update")
def _refuse_event_update(mapper: Mapper[Any], connection: sa.Connection, target: IncidentEvent) -> None:
    raise StoreError(
        f"incident_events is append-only: refused to update event {target.id} of incident "
        f"{target.incident_id}; record a new event instead"
    )


@event.listens_for(IncidentEvent, "before_delete")
def _refuse_event_delete(mapper: Mapper[Any], connection: sa.Connection, target: IncidentEvent) -> None:
    raise StoreError(
        f"incident_events is append-only: refused to delete event {target.id} of incident {target.incident_id}"
    )


# -- ... and in the database, so raw SQL cannot rewrite history either ------------------------

_EVENTS = IncidentEvent.__table__

for _op in ("UPDATE", "DELETE"):
    event.listen(
        _EVENTS,
        "after_create",
        sa.DDL(
            f"CREATE TRIGGER incident_events_no_{_op.lower()} BEFORE {_op} ON incident_events "
            f"BEGIN SELECT RAISE(ABORT, 'incident_events is append-only: {_op} refused'); END"
        ).execute_if(dialect="sqlite"),
    )

event.listen(
    _EVENTS,
    "after_create",
    sa.DDL(
        "CREATE OR REPLACE FUNCTION incident_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION USING MESSAGE = 'incident_events is append-only: ' || TG_OP || ' refused'; "
        "END $$"
    ).execute_if(dialect="postgresql"),
)
event.listen(
    _EVENTS,
    "after_create",
    sa.DDL(
        "CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON incident_events "
        "FOR EACH ROW EXECUTE FUNCTION incident_events_append_only()"
    ).execute_if(dialect="postgresql"),
)
event.listen(
    _EVENTS,
    "after_create",
    sa.DDL(
        "CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION incident_events_append_only()"
    ).execute_if(dialect="postgresql"),
)


# -- suppression: silences and per-fingerprint check history (rcaflows.incidents.suppression) --


class Silence(Base):
    """A silence: candidates matching every set matcher are not opened while it is active.

    A matcher left None matches anything; matchers are shell-style patterns (``fnmatch``).
    ``matched_count`` / ``last_matched_at`` record what it silenced; expiring sets ``ends_at``.
    """

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    incident_type: Mapped[str | None] = mapped_column(sa.String(64))
    component: Mapped[str | None] = mapped_column(sa.String(200))
    fingerprint: Mapped[str | None] = mapped_column(sa.String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime]
    expired_at: Mapped[datetime | None]
    expired_by: Mapped[str | None] = mapped_column(sa.String(200))
    matched_count: Mapped[int] = mapped_column(default=0)
    last_matched_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Silence {self.id} by {self.author} until {self.ends_at.isoformat()}>"


class CheckHistory(Base):
    """One detection run's verdict on one fingerprint; the run marker row has fingerprint ``""``."""

    __tablename__ = "check_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(sa.String(200))
    run_at: Mapped[datetime]
    fingerprint: Mapped[str] = mapped_column(sa.String(200))
    failed: Mapped[bool] = mapped_column(default=False)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        sa.Index("ix_check_history_system_fingerprint_run", "system", "fingerprint", "run_at"),
        sa.Index("ix_check_history_system_run", "system", "run_at"),
    )


# -- notifications, post-mortem action items and recurrence links (rcaflows.notify, .postmortem) --


class NotificationStatus(StrEnum):
    """Delivery state of an incident's message on one channel."""

    SENT = "sent"
    FAILED = "failed"


class NotificationRecord(Base):
    """The one message an incident has on one channel: where it lives and how its last delivery went.

    ``external_id`` / ``thread_id`` are what the receiver returned (a Slack ``ts``, an email
    Message-ID, a webhook dedup key), used to edit or thread later updates onto the first message.
    ``channel_config`` is the channel's config (names of secret variables only, never secrets).
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    channel_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    external_id: Mapped[str | None] = mapped_column(sa.String(500))
    thread_id: Mapped[str | None] = mapped_column(sa.String(500))
    last_payload_hash: Mapped[str | None] = mapped_column(sa.String(64))
    last_message: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[NotificationStatus] = mapped_column(_text_enum(NotificationStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    deliveries: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (sa.UniqueConstraint("incident_id", "channel", name="uq_notifications_incident_channel"),)

    def __repr__(self) -> str:
        return f"<NotificationRecord incident={self.incident_id} {self.channel} {self.status}>"


class ActionItemStatus(StrEnum):
    """Where a post-mortem action item stands."""

    OPEN = "open"
    DONE = "done"
    WONT_DO = "wont_do"


class ActionItem(Base):
    """A follow-up from a post-mortem: what, who, by when, and whether it is done."""

    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(1000))
    owner: Mapped[str] = mapped_column(sa.String(200))
    due_at: Mapped[datetime | None]
    status: Mapped[ActionItemStatus] = mapped_column(_text_enum(ActionItemStatus))
    source: Mapped[str] = mapped_column(sa.String(200), default="manual")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(sa.String(200))
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(sa.String(200))

    __table_args__ = (sa.Index("ix_action_items_status_due", "status", "due_at"),)

    def __repr__(self) -> str:
        return f"<ActionItem {self.id} incident={self.incident_id} {self.status} {self.title!r}>"


class IncidentLink(Base):
    """A recurrence link: ``incident_id`` resembles the earlier ``related_id`` for ``reason``."""

    __tablename__ = "incident_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    related_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    detail: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime]

    __table_args__ = (sa.UniqueConstraint("incident_id", "related_id", "reason", name="uq_incident_links"),)


# -- escalation: planned steps (rcaflows.triage.escalation) ------------------------------------


class StepStatus(StrEnum):
    """Status of one planned escalation step."""

    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class EscalationStep(Base):
    """One planned escalation step of an incident: due at ``due_at`` unless acknowledged/resolved first.

    ``until`` names what cancels it: ``ack`` (an acknowledgement or a resolution) or ``resolve``
    (only a resolution). The cancellation happens in the transition's own transaction.
    """

    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    level: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(32))
    due_at: Mapped[datetime] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(sa.String(500))
    targets: Mapped[list[str]] = mapped_column(sa.JSON())
    page: Mapped[bool]
    until: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[StepStatus] = mapped_column(_text_enum(StepStatus), index=True)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(sa.String(200))

    def __repr__(self) -> str:
        return f"<EscalationStep {self.id} incident={self.incident_id} L{self.level} {self.kind} {self.status}>"


# -- mitigation actions (rcaflows.mitigation) ----------------------------------------------------


class MitigationStatus(StrEnum):
    """Where one proposed runbook action stands; each row runs at most once."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INVALID = "invalid"  # its parameters could not be filled from the incident
    CANCELLED = "cancelled"  # the incident was resolved before it ran


class MitigationAction(Base):
    """One runbook action proposed for an incident, and what became of it.

    ``version`` guards the status: two operators approving at once cannot both move it from
    ``proposed``, and only the one who moves it to ``running`` runs it.
    """

    __tablename__ = "mitigation_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    runbook: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[MitigationStatus] = mapped_column(_text_enum(MitigationStatus))
    auto: Mapped[bool] = mapped_column(default=False)
    proposed_at: Mapped[datetime]
    proposed_by: Mapped[str] = mapped_column(sa.String(200))
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    flow_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(sa.String(2000))
    effective: Mapped[bool | None]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (sa.UniqueConstraint("incident_id", "name", name="uq_mitigation_actions_incident_name"),)

    def __repr__(self) -> str:
        return f"<MitigationAction {self.id} incident={self.incident_id} {self.name} {self.status}>"
