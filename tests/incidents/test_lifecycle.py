from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rcaflows.errors import TransitionError
from rcaflows.incidents.lifecycle import (
    TRANSITIONS,
    Action,
    allowed_actions,
    check,
    timestamp_field,
    timestamp_updates,
)
from rcaflows.vocab import IncidentState as S

# The table as the product spec states it, written out independently of the implementation.
EXPECTED: dict[str, tuple[set[str], str]] = {
    "triage": ({"detected"}, "triaged"),
    "acknowledge": ({"detected", "triaged", "investigating"}, "acknowledged"),
    "investigate": ({"triaged", "acknowledged", "investigating"}, "investigating"),
    "mitigate": ({"triaged", "acknowledged", "investigating"}, "mitigated"),
    "resolve": ({"detected", "triaged", "acknowledged", "investigating", "mitigated"}, "resolved"),
    "close": ({"resolved"}, "closed"),
    "reopen": ({"resolved"}, "triaged"),
    "unacknowledge": ({"acknowledged"}, "triaged"),
    "abandon": ({"investigating"}, "triaged"),
    "regress": ({"mitigated"}, "triaged"),
}


def test_the_table_declares_every_action() -> None:
    assert set(TRANSITIONS) == set(Action)
    assert {a.value for a in Action} == set(EXPECTED)


@pytest.mark.parametrize("state", list(S), ids=str)
@pytest.mark.parametrize("action", list(Action), ids=str)
def test_every_action_from_every_state(action: Action, state: S) -> None:
    allowed_from, to_state = EXPECTED[action.value]
    if state.value in allowed_from:
        assert check(state, action) == S(to_state)
        assert action in allowed_actions(state)
    else:
        with pytest.raises(TransitionError, match=f"cannot {action.value} .*: it is {state.value}"):
            check(state, action)
        assert action not in allowed_actions(state)


def test_refusal_names_the_incident_and_the_allowed_states() -> None:
    with pytest.raises(TransitionError) as err:
        check(S.RESOLVED, Action.ACKNOWLEDGE, subject="INC-0007")
    assert str(err.value) == (
        "cannot acknowledge INC-0007: it is resolved; acknowledge is allowed from detected, triaged, investigating"
    )


def test_strings_are_accepted_and_unknown_actions_refused() -> None:
    assert check("detected", "triage") is S.TRIAGED
    with pytest.raises(TransitionError, match="unknown action 'escalate'"):
        check("detected", "escalate")


def test_closed_is_terminal() -> None:
    assert allowed_actions(S.CLOSED) == []


AT = datetime(2026, 3, 1, tzinfo=UTC)
EARLIER = AT - timedelta(hours=5)


def _stamps(**set_: datetime) -> dict[str, datetime | None]:
    stamps: dict[str, datetime | None] = {timestamp_field(s): None for s in S}
    stamps.update(set_)
    return stamps


def test_first_entry_timestamp_is_kept_on_re_entry() -> None:
    stamps = _stamps(detected_at=EARLIER, investigating_at=EARLIER)
    assert timestamp_updates(stamps, Action.INVESTIGATE, S.INVESTIGATING, AT) == {}
    assert timestamp_updates(stamps, Action.ACKNOWLEDGE, S.ACKNOWLEDGED, AT) == {"acknowledged_at": AT}


def test_resolution_timestamps_are_set_on_every_entry_and_cleared_on_reopen() -> None:
    stamps = _stamps(detected_at=EARLIER, triaged_at=EARLIER, resolved_at=EARLIER)
    assert timestamp_updates(stamps, Action.RESOLVE, S.RESOLVED, AT) == {"resolved_at": AT}
    # reopen clears resolved_at and keeps the first triaged_at
    assert timestamp_updates(stamps, Action.REOPEN, S.TRIAGED, AT) == {"resolved_at": None}
    # reopen of an incident resolved straight from detected stamps triaged_at now
    direct = _stamps(detected_at=EARLIER, resolved_at=EARLIER)
    assert timestamp_updates(direct, Action.REOPEN, S.TRIAGED, AT) == {"resolved_at": None, "triaged_at": AT}
