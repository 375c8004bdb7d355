"""The incident lifecycle: one declared transition table, its guard, and the timestamp rule.

::

    action        allowed from                                              to
    triage        detected                                                  triaged
    acknowledge   detected, triaged, investigating                          acknowledged
    investigate   triaged, acknowledged, investigating                      investigating
    mitigate      triaged, acknowledged, investigating                      mitigated
    resolve       detected, triaged, acknowledged, investigating, mitigated resolved
    close         resolved                                                  closed
    reopen        resolved                                                  triaged
    unacknowledge acknowledged                                              triaged  (an ack's expiry lapsed)
    abandon       investigating                                             triaged  (its RCA run died or overran)
    regress       mitigated                                                 triaged  (the fix proved not effective)

Operations that change no state (assign, note, snooze, set_severity, merge) are guarded by
:data:`OPERATIONS` (the states each is allowed in) and checked with :func:`check_operation`.

Anything else is refused with :class:`~rcaflows.errors.TransitionError`: acknowledging a
resolved incident is an error, never an implicit re-open (Grafana OnCall #3161).

Timestamps (one ``<state>_at`` column per state):

* ``detected_at`` … ``mitigated_at`` keep the time the state was *first* entered, so time to
  acknowledge / investigate / mitigate is measured from the first response, also after a reopen.
* ``resolved_at`` and ``closed_at`` describe the *current* resolution: they are set on every
  entry and cleared by ``reopen``, so an open incident never carries a resolution time.
  Earlier resolutions stay in the audit log, which holds every transition with its time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from rcaflows.errors import TransitionError
from rcaflows.vocab import IncidentState

_S = IncidentState


class Action(StrEnum):
    """What a person or flow does to an incident."""

    TRIAGE = "triage"
    ACKNOWLEDGE = "acknowledge"
    INVESTIGATE = "investigate"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    UNACKNOWLEDGE = "unacknowledge"
    ABANDON = "abandon"  # the reaper: the RCA run died or overran its time limit
    REGRESS = "regress"  # the watch after a mitigation: its checks failed again


class Operation(StrEnum):
    """What a person does to an incident without changing its state."""

    ASSIGN = "assign"
    NOTE = "note"
    SNOOZE = "snooze"
    SET_SEVERITY = "set_severity"
    MERGE = "merge"  # the survivor's side of a merge; the duplicate is resolved as a transition


class Transition(NamedTuple):
    """The states an action is allowed from, and the state it leads to."""

    from_states: frozenset[IncidentState]
    to_state: IncidentState


TRANSITIONS: Mapping[Action, Transition] = {
    Action.TRIAGE: Transition(frozenset({_S.DETECTED}), _S.TRIAGED),
    Action.ACKNOWLEDGE: Transition(frozenset({_S.DETECTED, _S.TRIAGED, _S.INVESTIGATING}), _S.ACKNOWLEDGED),
    # investigating -> investigating: re-running the RCA is allowed.
    Action.INVESTIGATE: Transition(frozenset({_S.TRIAGED, _S.ACKNOWLEDGED, _S.INVESTIGATING}), _S.INVESTIGATING),
    Action.MITIGATE: Transition(frozenset({_S.TRIAGED, _S.ACKNOWLEDGED, _S.INVESTIGATING}), _S.MITIGATED),
    Action.RESOLVE: Transition(
        frozenset({_S.DETECTED, _S.TRIAGED, _S.ACKNOWLEDGED, _S.INVESTIGATING, _S.MITIGATED}), _S.RESOLVED
    ),
    Action.CLOSE: Transition(frozenset({_S.RESOLVED}), _S.CLOSED),
    Action.REOPEN: Transition(frozenset({_S.RESOLVED}), _S.TRIAGED),
    Action.UNACKNOWLEDGE: Transition(frozenset({_S.ACKNOWLEDGED}), _S.TRIAGED),
    Action.ABANDON: Transition(frozenset({_S.INVESTIGATING}), _S.TRIAGED),
    Action.REGRESS: Transition(frozenset({_S.MITIGATED}), _S.TRIAGED),
}

_OPEN = frozenset({_S.DETECTED, _S.TRIAGED, _S.ACKNOWLEDGED, _S.INVESTIGATING, _S.MITIGATED})
OPERATIONS: Mapping[Operation, frozenset[IncidentState]] = {
    Operation.ASSIGN: _OPEN,
    Operation.NOTE: frozenset(IncidentState),
    Operation.SNOOZE: _OPEN - {_S.MITIGATED},
    Operation.SET_SEVERITY: _OPEN,
    Operation.MERGE: _OPEN,
}

# States whose timestamp is set on every entry (and cleared on reopen); all others keep the first.
RESTAMPED_ON_ENTRY: frozenset[IncidentState] = frozenset({_S.RESOLVED, _S.CLOSED})


def timestamp_field(state: IncidentState) -> str:
    """Return the column that records when ``state`` was entered, e.g. ``acknowledged_at``."""
    return f"{state.value}_at"


def _ordered(states: frozenset[IncidentState]) -> list[IncidentState]:
    order = list(IncidentState)
    return sorted(states, key=order.index)


def allowed_actions(state: IncidentState) -> list[Action]:
    """Return the actions allowed from ``state``, in declaration order."""
    return [action for action, t in TRANSITIONS.items() if state in t.from_states]


def check(state: IncidentState | str, action: Action | str, *, subject: str = "the incident") -> IncidentState:
    """Return the state ``action`` leads to from ``state``.

    Args:
        state: The incident's current state.
        action: The action asked for.
        subject: How to name the incident in the error, e.g. ``"INC-0007"``.

    Raises:
        TransitionError: If ``action`` is unknown or not allowed from ``state``.
    """
    try:
        act = Action(action)
    except ValueError:
        raise TransitionError(
            f"unknown action {action!r} for {subject}; expected one of {', '.join(a.value for a in Action)}"
        ) from None
    current = IncidentState(state)
    t = TRANSITIONS[act]
    if current not in t.from_states:
        allowed = ", ".join(s.value for s in _ordered(t.from_states))
        raise TransitionError(
            f"cannot {act.value} {subject}: it is {current.value}; {act.value} is allowed from {allowed}"
        )
    return t.to_state


def check_operation(state: IncidentState | str, operation: Operation | str, *, subject: str = "the incident") -> None:
    """Refuse ``operation`` unless it is allowed in ``state``.

    Raises:
        TransitionError: If ``operation`` is unknown or not allowed in ``state``.
    """
    try:
        op = Operation(operation)
    except ValueError:
        raise TransitionError(
            f"unknown operation {operation!r} for {subject}; expected one of {', '.join(o.value for o in Operation)}"
        ) from None
    current = IncidentState(state)
    if current not in OPERATIONS[op]:
        allowed = ", ".join(s.value for s in _ordered(OPERATIONS[op]))
        raise TransitionError(f"cannot {op.value} {subject}: it is {current.value}; {op.value} is allowed in {allowed}")


def timestamp_updates(
    stamps: Mapping[str, datetime | None], action: Action, to_state: IncidentState, at: datetime
) -> dict[str, datetime | None]:
    """Return the ``<state>_at`` columns to change when ``action`` enters ``to_state`` at ``at``.

    Args:
        stamps: The incident's current ``<state>_at`` values, keyed by column name.
        action: The action being applied (``reopen`` clears the resolution times).
        to_state: The state being entered.
        at: When it is entered (aware UTC).
    """
    updates: dict[str, datetime | None] = {}
    if action is Action.REOPEN:
        for state in RESTAMPED_ON_ENTRY:
            if stamps.get(timestamp_field(state)) is not None:
                updates[timestamp_field(state)] = None
    field = timestamp_field(to_state)
    if to_state in RESTAMPED_ON_ENTRY or stamps.get(field) is None:
        updates[field] = at
    return updates
