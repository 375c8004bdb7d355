"""Typed lifecycle events, published after the unit of work that caused them commits.

The store's functions change state and write the audit log; they never notify, page or draft.
Each change queues one frozen event on its session (:func:`queue`), and :meth:`Store.session`
hands the queued events to :data:`bus` only once the transaction has committed: a rolled-back
or failed commit publishes nothing. Subscribers (escalation, notification, post-mortem) are registered in
one place, :mod:`rcaflows.wiring`, so this package imports none of them.

::

    LifecycleEvent
     ├── IncidentOpened          a new incident was inserted (detection)
     ├── IncidentDeduplicated    an open incident was seen again
     ├── IncidentTransitioned    a state change of the transition table
     │    └── IncidentReopened   resolved -> triaged
     ├── IncidentUpdated         an operation that keeps the state (assign, note, snooze, ...)
     └── RcaCompleted            an RCA run of the incident was recorded as completed

Subscribers run one after another in the publishing thread. A subscriber that raises is logged
and audited (a ``subscriber_failed`` event on the incident, in a transaction of its own); it never
undoes the committed change and never stops the subscribers after it.

Subscribers are of two kinds. *Bookkeeping* ones (escalation) run after every commit. *Outbound*
ones (messages, post-mortem drafts) reach people or files and need the system config, so they
run only inside a :func:`side_effects` scope that a caller opens with its config (the CLI, the
flows); the bare engine (a backtest, a unit test) changes state without messaging anyone.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from rcaflows.vocab import IncidentState

if TYPE_CHECKING:
    from rcaflows.incidents.db import Store

log = logging.getLogger(__name__)

_PENDING = "rcaflows.pending_events"
AUDIT_ACTOR = "events"


@dataclass(frozen=True, kw_only=True)
class LifecycleEvent:
    """Something that happened to one incident and has been committed."""

    incident_id: int
    key: str
    actor: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class IncidentOpened(LifecycleEvent):
    """A new incident was inserted in state ``detected``."""


@dataclass(frozen=True, kw_only=True)
class IncidentDeduplicated(LifecycleEvent):
    """An open incident with the same fingerprint was seen again."""

    occurrences: int
    severity: str


@dataclass(frozen=True, kw_only=True)
class IncidentTransitioned(LifecycleEvent):
    """A lifecycle action moved the incident from one state to another."""

    action: str
    from_state: IncidentState
    to_state: IncidentState
    resolution: str | None = None


@dataclass(frozen=True, kw_only=True)
class IncidentReopened(IncidentTransitioned):
    """A resolved incident was reopened (to ``triaged``)."""


@dataclass(frozen=True, kw_only=True)
class IncidentUpdated(LifecycleEvent):
    """An operation that keeps the state changed the incident (assign, note, snooze, set_severity, merge)."""

    operation: str


@dataclass(frozen=True, kw_only=True)
class RcaCompleted(LifecycleEvent):
    """An RCA run of the incident completed and was recorded."""

    rca_run_id: int
    top: str | None = None


def event_dict(ev: LifecycleEvent) -> dict[str, Any]:
    """Return a JSON-ready view of an event: its type name and fields."""
    out: dict[str, Any] = {"event": type(ev).__name__}
    for k, v in asdict(ev).items():
        out[k] = v.isoformat() if isinstance(v, datetime) else (v.value if isinstance(v, IncidentState) else v)
    return out


# -- queueing on the unit of work ---------------------------------------------------------------


def queue(session: Session, ev: LifecycleEvent) -> None:
    """Queue ``ev`` on the session's transaction; it is published only if that transaction commits."""
    session.info.setdefault(_PENDING, []).append(ev)


def pending(session: Session) -> list[LifecycleEvent]:
    """Return the events queued on the session and not yet published."""
    return list(session.info.get(_PENDING, ()))


@sa_event.listens_for(Session, "after_soft_rollback")
def _discard_on_rollback(session: Session, _previous_transaction: Any) -> None:
    # A rollback undoes the changes the queued events describe: they must never be published.
    session.info.pop(_PENDING, None)


def publish_committed(store: Store, session: Session) -> list[Delivery]:
    """Publish the events queued on ``session`` (call only after its transaction committed)."""
    queued = session.info.pop(_PENDING, [])
    return [d for ev in queued for d in bus.publish(ev, store)]


# -- the bus ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What one subscriber did with one event."""

    subscriber: str
    event: LifecycleEvent
    ok: bool
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Context:
    """What a subscriber gets beside the event: the store, and the config of the side-effects scope."""

    store: Store
    config: Any = None  # rcaflows.config.SystemConfig inside a side_effects scope, else None


Handler = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class Subscription:
    """One subscriber: its name, the event type it wants (subclasses included) and whether it is outbound."""

    name: str
    event_type: type[LifecycleEvent]
    handler: Handler
    outbound: bool


@dataclass
class Scope:
    """A side-effects scope: the config outbound subscribers use, and every delivery made inside it."""

    config: Any
    deliveries: list[Delivery] = field(default_factory=list)

    def failures(self) -> list[Delivery]:
        """Return the deliveries whose subscriber raised."""
        return [d for d in self.deliveries if not d.ok]

    def results(self, subscriber: str) -> list[Any]:
        """Return the results of one subscriber's successful deliveries, in order."""
        return [d.result for d in self.deliveries if d.ok and d.subscriber == subscriber]


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("rcaflows_side_effects", default=None)


@contextmanager
def side_effects(config: Any) -> Iterator[Scope]:
    """Run outbound subscribers (messages, post-mortems) with ``config`` for the commits made inside."""
    scope = Scope(config)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


class Bus:
    """Subscribers by event type; :meth:`publish` isolates each subscriber's failure."""

    def __init__(self) -> None:
        self._subs: dict[str, Subscription] = {}

    def subscribe(
        self, event_type: type[LifecycleEvent], handler: Handler, *, name: str, outbound: bool = False
    ) -> None:
        """Register ``handler`` for ``event_type`` and its subclasses; a second call with ``name`` replaces it."""
        self._subs[name] = Subscription(name, event_type, handler, outbound)

    def unsubscribe(self, name: str) -> None:
        """Remove the subscriber called ``name`` (no error if there is none)."""
        self._subs.pop(name, None)

    def subscriptions(self) -> list[Subscription]:
        """Return the subscriptions in registration order."""
        return list(self._subs.values())

    def publish(self, ev: LifecycleEvent, store: Store) -> list[Delivery]:
        """Deliver a committed event to every subscriber that wants it; return what each did."""
        scope = _scope.get()
        ctx = Context(store, scope.config if scope is not None else None)
        out: list[Delivery] = []
        for sub in list(self._subs.values()):
            if not isinstance(ev, sub.event_type) or (sub.outbound and scope is None):
                continue
            try:
                out.append(Delivery(sub.name, ev, True, sub.handler(ev, ctx)))
            except Exception as exc:  # a subscriber never undoes the committed change, nor stops the others
                error = f"{type(exc).__name__}: {exc}"
                log.exception("subscriber %s failed on %s of %s", sub.name, type(ev).__name__, ev.key)
                _audit_failure(store, sub.name, ev, error)
                out.append(Delivery(sub.name, ev, False, error=error))
        if scope is not None:
            scope.deliveries += out
        return out


def _audit_failure(store: Store, subscriber: str, ev: LifecycleEvent, error: str) -> None:
    """Record a ``subscriber_failed`` event on the incident, in its own transaction; never raise."""
    from rcaflows.incidents.models import EventKind
    from rcaflows.incidents.service import record_event

    try:
        with store.session() as s:
            record_event(
                s,
                ev.incident_id,
                EventKind.SUBSCRIBER_FAILED,
                AUDIT_ACTOR,
                {"subscriber": subscriber, "error": error[:2000], **event_dict(ev)},
            )
    except Exception:  # the store itself is failing: the log line above is all that is left
        log.exception("could not audit the failure of subscriber %s on %s", subscriber, ev.key)


bus = Bus()
"""The process's bus; :func:`rcaflows.wiring.install` registers the subscribers on it."""
