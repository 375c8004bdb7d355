"""Proposals, approvals (racing ones included) and runs of runbook actions, on a real store and a real
localhost webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from mitigation_helpers import DEPLOY_RCA, with_mitigation

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import EventKind, Store, events, get_incident, resolve
from rcaflows.incidents.models import MitigationStatus
from rcaflows.mitigation.service import (
    MitigationError,
    actions_of,
    auto_approve,
    decide,
    propose,
    run_approved,
)
from rcaflows.vocab import IncidentState


class Receiver:
    """A real HTTP server on localhost that records the JSON bodies it receives."""

    def __init__(self, *, delay: float = 0.0, status: int = 200, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.delay, self.status, self.fail_first = delay, status, fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                time.sleep(outer.delay)
                code = 500 if len(outer.bodies) <= outer.fail_first else outer.status
                try:
                    self.send_response(code)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kw: Any) -> Receiver:
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def webhook_cfg(demo_cfg: SystemConfig, url: str, **action: Any) -> SystemConfig:
    spec = {
        "name": "hook",
        "kind": "webhook",
        "url": url,
        "body": {"incident": "{incident}", "model": "{cause_component}"},
        **action,
    }
    return with_mitigation(
        demo_cfg,
        {"runbooks": [{"name": "rb", "when": {"cause_kinds": ["deploy"]}, "actions": [spec]}], "watch": {"runs": 2}},
    )


def mitigation_events(store: Store, key: str) -> list[dict[str, Any]]:
    with store.session(readonly=True) as s:
        return [e.payload for e in events(s, key) if e.kind is EventKind.MITIGATION]


def test_propose_is_idempotent_and_audited(store: Store, cfg: SystemConfig, make_incident: Callable[..., str]) -> None:
    key = make_incident()
    with store.session() as s:
        hyp, rows = propose(s, cfg, key, "flow:1")
        assert hyp.cause_kind == "deploy"
        assert [(r.name, r.status, r.auto) for r in rows] == [
            ("rollback_model", MitigationStatus.PROPOSED, False),
            ("tell_owners", MitigationStatus.PROPOSED, False),
        ]
        assert rows[0].parameters == {
            "deployment": "model-ops/rollback",
            "parameters": {"model": "fraud_model", "to_version": "v12"},
        }
    with store.session() as s:
        _, again = propose(s, cfg, key, "flow:1")  # the flow re-runs from the top after a resume
        assert len(again) == 2 and len(actions_of(s, key)) == 2
    assert [e["step"] for e in mitigation_events(store, key)] == ["proposed", "proposed"]


def test_auto_for_severity(store: Store, cfg: SystemConfig, make_incident: Callable[..., str]) -> None:
    key = make_incident(severity="critical")
    with store.session() as s:
        propose(s, cfg, key, "flow:1")
        assert auto_approve(s, key, "auto") == ["rollback_model"]
        assert [a.status for a in actions_of(s, key)] == [MitigationStatus.APPROVED, MitigationStatus.PROPOSED]


def test_missing_field_makes_the_action_invalid_not_runnable(
    store: Store, cfg: SystemConfig, make_incident: Callable[..., str]
) -> None:
    key = make_incident(rca={**DEPLOY_RCA, "phases": []})  # no change event: no {previous_version}
    with store.session() as s:
        _, rows = propose(s, cfg, key, "flow:1")
        assert rows[0].status is MitigationStatus.INVALID
        assert "{previous_version} is not known" in (rows[0].error or "")
        out = decide(s, key, "rollback_model", "user:alice", approve=True)
        assert out.refused is not None and "already invalid" in out.refused
    assert [e["step"] for e in mitigation_events(store, key)] == ["proposed", "proposed", "refused"]


def test_no_runbook_and_closed_incident_are_clear_errors(
    store: Store, cfg: SystemConfig, make_incident: Callable[..., str]
) -> None:
    key = make_incident(rca=None)
    with store.session() as s, pytest.raises(MitigationError, match=r"no runbook matches .*no RCA hypothesis"):
        propose(s, cfg, key, "flow:1")
    with store.session() as s:
        resolve(s, key, "user:bob")
    with store.session() as s, pytest.raises(MitigationError, match="is resolved; mitigations apply to open"):
        propose(s, cfg, key, "flow:1")


def test_approval_after_resolution_is_refused_and_nothing_runs(
    store: Store, demo_cfg: SystemConfig, make_incident: Callable[..., str], receiver: Callable[..., Receiver]
) -> None:
    hook = receiver()
    cfg = webhook_cfg(demo_cfg, hook.url)
    key = make_incident()
    with store.session() as s:
        propose(s, cfg, key, "flow:1")
        decide(s, key, "hook", "user:alice", approve=True)
    with store.session() as s:
        resolve(s, key, "user:bob", comment="fixed by hand")
    with store.session() as s:
        late = decide(s, key, "hook", "user:carol", approve=True)
    assert late.refused is not None and "is resolved" in late.refused
    outcomes = run_approved(store, cfg, key, "flow:1")
    assert outcomes[0].status == "cancelled" and hook.bodies == []
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.RESOLVED
    assert [e["step"] for e in mitigation_events(store, key)] == ["proposed", "approved", "refused", "cancelled"]


def test_webhook_runs_once_and_mitigates(
    store: Store, demo_cfg: SystemConfig, make_incident: Callable[..., str], receiver: Callable[..., Receiver]
) -> None:
    hook = receiver()
    cfg = webhook_cfg(demo_cfg, hook.url)
    key = make_incident()
    with store.session() as s:
        propose(s, cfg, key, "flow:1")
        decide(s, key, "hook", "user:alice", approve=True, parameters={"model": "fraud_model_v2"})
    outcomes = run_approved(store, cfg, key, "flow:1")
    assert [o.status for o in outcomes] == ["succeeded"]
    assert hook.bodies == [{"incident": key, "model": "fraud_model_v2"}]  # the operator's edit was sent
    assert run_approved(store, cfg, key, "flow:2") == []  # nothing approved is left: never run twice
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.MITIGATED
        assert inc.details["watch"]["status"] == "watching" and inc.details["watch"]["runs"] == 2
    steps = mitigation_events(store, key)
    assert [e["step"] for e in steps] == ["proposed", "approved", "started", "succeeded"]
    assert steps[1]["edited"] == {"model": "fraud_model_v2"}


def test_webhook_timeout_is_retried_then_failed_without_changing_state(
    store: Store, demo_cfg: SystemConfig, make_incident: Callable[..., str], receiver: Callable[..., Receiver]
) -> None:
    hook = receiver(delay=1.0)
    cfg = webhook_cfg(demo_cfg, hook.url, timeout_s=0.2, retries=1)
    key = make_incident()
    with store.session() as s:
        propose(s, cfg, key, "flow:1")
        decide(s, key, "hook", "user:alice", approve=True)
    outcomes = run_approved(store, cfg, key, "flow:1")
    assert [o.status for o in outcomes] == ["failed"]
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.TRIAGED
        row = actions_of(s, key)[0]
        assert row.attempts == 2 and "timed out after 0.2 s" in (row.error or "")
    assert [e["step"] for e in mitigation_events(store, key)] == [
        "proposed",
        "approved",
        "started",
        "attempt_failed",
        "failed",
    ]


def test_retry_succeeds_after_a_server_error(
    store: Store, demo_cfg: SystemConfig, make_incident: Callable[..., str], receiver: Callable[..., Receiver]
) -> None:
    hook = receiver(fail_first=1)
    cfg = webhook_cfg(demo_cfg, hook.url, retries=2)
    key = make_incident()
    with store.session() as s:
        propose(s, cfg, key, "flow:1")
        decide(s, key, "hook", "user:alice", approve=True)
    assert [o.status for o in run_approved(store, cfg, key, "flow:1")] == ["succeeded"]
    assert len(hook.bodies) == 2


def test_racing_approvals_and_runs(
    store: Store, demo_cfg: SystemConfig, make_incident: Callable[..., str], receiver: Callable[..., Receiver]
) -> None:
    hook = receiver(delay=0.3)
    cfg = webhook_cfg(demo_cfg, hook.url)
    key = make_incident()
    with store.session() as s:
        propose(s, cfg, key, "flow:1")
    barrier = threading.Barrier(2)
    decisions: dict[str, Any] = {}

    def approve(who: str) -> None:
        barrier.wait()
        for _ in range(5):  # a concurrent update on PostgreSQL is a retryable TransitionError
            try:
                with store.session() as s:
                    decisions[who] = decide(s, key, "hook", who, approve=True)
                return
            except Exception as exc:
                decisions[who] = exc

    threads = [threading.Thread(target=approve, args=(w,)) for w in ("user:alice", "user:bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [d for d in decisions.values() if getattr(d, "refused", None)]
    approved = [d for d in decisions.values() if getattr(d, "refused", "x") is None]
    assert len(approved) == 1 and len(refused) == 1 and "already approved by user:" in refused[0].refused

    results: list[Any] = []
    runners = [
        threading.Thread(target=lambda i=i: results.append(run_approved(store, cfg, key, f"flow:{i}")))
        for i in range(2)
    ]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    assert len(hook.bodies) == 1  # the action ran exactly once
    steps = [e["step"] for e in mitigation_events(store, key)]
    assert steps.count("approved") == 1 and steps.count("started") == 1 and steps.count("succeeded") == 1
