"""Two reviewers publish one post-mortem at once: one move is recorded, the other is refused (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rcaflows.errors import TransitionError
from rcaflows.incidents import EventKind, NewIncident, Store, events, open_or_touch, record_event, resolve
from rcaflows.postmortem import PostmortemState, move_postmortem, postmortem_state


def test_racing_publications_record_one_move(store: Store, make_new: Callable[..., NewIncident]) -> None:
    with store.session() as s:
        inc, _ = open_or_touch(s, make_new())
        key = inc.key
        resolve(s, inc, "user:x", reason="fixed")
        record_event(s, inc, EventKind.REPORT, "postmortem", {"postmortem": "x.md", "postmortem_state": "draft"})
        move_postmortem(s, key, "review", "user:a")
    a_moved, release = threading.Event(), threading.Event()
    done: list[str] = []
    refused: list[str] = []

    def first() -> None:
        with store.session() as s:
            move_postmortem(s, key, "published", "user:a")
            a_moved.set()
            release.wait(10)  # hold the transaction open while the second reviewer tries
        done.append("user:a")

    def second() -> None:
        a_moved.wait(10)
        try:
            with store.session() as s:
                move_postmortem(s, key, "published", "user:b")
            done.append("user:b")
        except TransitionError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    a_moved.wait(10)
    threading.Event().wait(0.3)  # let the second reviewer reach the lock (the outcome does not depend on it)
    release.set()
    for t in threads:
        t.join(30)
    assert done == ["user:a"]
    assert len(refused) == 1 and "post-mortem is published; it can move to review, not published" in refused[0]
    with store.session(readonly=True) as s:
        moves = [
            (e.actor, e.payload["from"], e.payload["postmortem_state"])
            for e in events(s, key)
            if e.kind is EventKind.REPORT and "from" in e.payload
        ]
        assert postmortem_state(s, key) is PostmortemState.PUBLISHED
    assert moves == [("user:a", "draft", "review"), ("user:a", "review", "published")]
