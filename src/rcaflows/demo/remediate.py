"""``rcaflows demo --remediate``: close the loop on the simulated worlds.

After detection and RCA at the demo's hour, each open incident gets the actions of the demo's
runbooks (:func:`demo_mitigation`: roll back a bad deploy, quarantine a poisoned training batch
and roll its model back, restore the schema, block a flooding client, switch to the fallback
model, pause a drifting ingest), approved automatically (every
severity is ``auto`` in the demo), and run: they are webhooks to the demo's control plane
(:class:`ControlPlane`, a real HTTP server on localhost), which records which faults the action
ends and when. The demo source then serves the scenario's world with those faults ended
(:func:`rcaflows.demo.simulator.simulate_remediated`), and detection runs on for the watch
period: a fix that worked is validated and the incident resolved; an action that does not end
the fault (pausing the ingest of a source whose data drifted) sees the checks fail again, and the
incident is re-opened and escalated, never falsely validated.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from rcaflows.demo.config import demo_document
from rcaflows.demo.simulator import DEMO_END, remedied_faults
from rcaflows.vocab import Severity

ALL_SEVERITIES = [s.value for s in Severity]


class ControlPlane:
    """The demo platform's operations API: ``POST /<scenario>/<action>`` with ``{"target": ...}``.

    Each call is appended to ``<directory>/<scenario>.json`` with the faults it ends (maybe none)
    at the demo clock's time (:attr:`clock`), which the demo advances hour by hour.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.clock: datetime = DEMO_END
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = self.path.strip("/").split("/")
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                    scenario, action = parts
                    fixes = plane.apply(scenario, action, str(body["target"]), str(body.get("incident", "")))
                except (ValueError, KeyError) as exc:
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(f"bad request: {exc}".encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"ended": fixes}).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def apply(self, scenario: str, action: str, target: str, incident: str) -> list[str]:
        """Record one action call; return the faults of ``scenario`` it ends."""
        from rcaflows.demo.scenarios import SCENARIOS

        if scenario not in SCENARIOS:
            raise KeyError(f"unknown scenario {scenario!r}")
        fixes = remedied_faults(scenario, action, target)
        entry = {
            "action": action,
            "target": target,
            "incident": incident,
            "at": self.clock.isoformat(),
            "fixes": fixes,
        }
        with self._lock:
            self.calls.append({"scenario": scenario, **entry})
            path = self.file(scenario)
            done = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
            path.write_text(json.dumps([*done, entry], indent=2), encoding="utf-8")
        return fixes

    def file(self, scenario: str) -> Path:
        """Return the remediation record of ``scenario`` (what the demo source reads)."""
        return self.directory / f"{scenario}.json"

    @contextmanager
    def running(self) -> Iterator[ControlPlane]:
        """Serve until the block ends."""
        self.directory.mkdir(parents=True, exist_ok=True)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def demo_mitigation(url: str, scenario: str) -> dict[str, Any]:
    """Return the demo system's ``mitigation:`` section: runbooks whose actions call the control plane."""

    def hook(name: str, what: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "webhook",
            "description": what,
            "url": f"{url}/{scenario}/{name}",
            "body": {"target": "{cause_component}", "incident": "{incident}"},
            "auto": ALL_SEVERITIES,
            "timeout_s": 10,
            "retries": 1,
        }

    return {
        "use_defaults": False,
        "runbooks": [
            {
                "name": "bad_deploy",
                "when": {
                    "cause_kinds": [
                        "deploy",
                        "config_change",
                        "segment_shift",
                        "attribution_shift",
                        "attribution_drift",
                    ]
                },
                "actions": [hook("rollback", "Roll the cause's component back to its previous version.")],
            },
            {
                "name": "harmful_experiment_arm",
                "when": {"cause_kinds": ["arm_regression"]},
                "actions": [hook("stop_arm", "Stop the experiment arm carrying the regression (traffic to control).")],
            },
            {
                "name": "poisoned_training_batch",
                "when": {"cause_kinds": ["training_batch"]},
                "actions": [
                    hook(
                        "quarantine_batch",
                        "Quarantine the training batch and roll the model back to the version trained before it.",
                    )
                ],
            },
            {
                "name": "broken_schema",
                "when": {
                    "cause_kinds": ["schema_change", "feature_nulls", "upstream_null_rate", "upstream_dq_failure"]
                },
                "actions": [hook("restore_schema", "Restore the feed's previous schema mapping.")],
            },
            {
                "name": "flooding_client",
                "when": {"cause_kinds": ["client_flood", "client_ood"]},
                "actions": [hook("block_client", "Block the client at the gateway.")],
            },
            {
                "name": "failing_dependency",
                "when": {"components": ["geo_api"]},
                "actions": [hook("fallback_model", "Switch traffic to the fallback model (no geo features).")],
            },
            {
                "name": "drifting_source",
                "when": {"cause_kinds": ["feature_drift", "upstream_drift", "upstream_row_count"]},
                "actions": [hook("pause_ingest", "Pause the ingest job of the drifting source.")],
            },
        ],
        "watch": {"runs": 2, "auto_resolve": True},
    }


def write_remediation_config(scenario: str, directory: Path, plane: ControlPlane) -> Path:
    """Write the scenario's demo config with the runbooks and the remediation record; return its path."""
    doc = demo_document(scenario)
    for s in doc.get("sources") or []:
        if s.get("kind") == "demo":
            s["options"] = {**(s.get("options") or {}), "remediations": str(plane.file(scenario).resolve())}
    doc["mitigation"] = demo_mitigation(plane.url, scenario)
    out = directory.resolve() / f"{scenario}.remediate.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# generated by rcaflows demo --remediate\n{yaml.safe_dump(doc, sort_keys=False)}")
    return out


@dataclass
class Remediation:
    """What happened to one incident of a scenario after detection: action, run, watch, final state."""

    scenario: str
    incident: str
    cause: str
    actions: list[str] = field(default_factory=list)  # "name: status"
    ended: list[str] = field(default_factory=list)  # faults the control plane ended
    verdict: str = "-"  # validated, regressed, watching, no runbook
    state: str = "-"
    minutes_to_mitigate: float | None = None
    escalated: bool = False


def remediate_scenario(
    scenario: str,
    config: Path,
    plane: ControlPlane,
    detect: Callable[[str, datetime], Any],
    *,
    hours: int = 3,
) -> list[Remediation]:
    """Propose, auto-approve and run the actions of each open incident of ``scenario``, then watch ``hours`` more.

    ``detect(config, at)`` runs one detection (the demo passes the detection flow).
    """
    from rcaflows.config import load_config
    from rcaflows.incidents import EventKind, Store, events, list_incidents
    from rcaflows.mitigation.service import MitigationError, actions_of, auto_approve, propose, run_approved
    from rcaflows.vocab import OPEN_STATES

    cfg = load_config(config)
    store = Store.from_url(cfg.store.url)
    with store.session(readonly=True) as s:
        keys = [i.key for i in list_incidents(s, system=cfg.system.name) if i.state in OPEN_STATES]
    plane.clock = DEMO_END
    rows: dict[str, Remediation] = {}
    for key in keys:
        try:
            with store.session() as s:
                hyp, _ = propose(s, cfg, key, "demo", at=DEMO_END)
                auto_approve(s, key, "auto:severity", at=DEMO_END)
            cause = f"{hyp.cause_kind} on {hyp.fields.get('cause_component')}"
        except MitigationError:
            rows[key] = Remediation(scenario, key, "-", verdict="no runbook")
            continue
        run_approved(store, cfg, key, "demo", at=DEMO_END)
        rows[key] = Remediation(scenario, key, cause)
    for h in range(1, hours + 1):
        plane.clock = DEMO_END + timedelta(hours=h)
        detect(str(config), DEMO_END + timedelta(hours=h))
    with store.session(readonly=True) as s:
        for key, row in rows.items():
            inc = next(i for i in list_incidents(s, system=cfg.system.name) if i.key == key)
            row.state = inc.state.value
            if row.verdict == "no runbook":
                continue
            row.actions = [f"{a.name}: {a.status.value}" for a in actions_of(s, inc)]
            row.ended = [
                f for c in plane.calls if c["scenario"] == scenario and c["incident"] == key for f in c["fixes"]
            ]
            row.verdict = (inc.details.get("watch") or {}).get("status", "not run")
            if inc.mitigated_at is not None:
                row.minutes_to_mitigate = (inc.mitigated_at - inc.detected_at).total_seconds() / 60
            row.escalated = any(
                e.kind is EventKind.ESCALATION and e.payload.get("action") == "escalate" for e in events(s, inc)
            )
    return list(rows.values())
