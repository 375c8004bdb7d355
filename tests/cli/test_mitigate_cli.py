"""``rcaflows incidents mitigate INC --action NAME --yes``: approve and run a runbook action from the shell."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import open_incident
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.config.loader import demo_config_path
from rcaflows.incidents import EventKind, Store, events, finish_rca_run, get_incident, start_rca_run

runner = CliRunner()

RCA = {"hypotheses": [{"rank": 1, "component": "gateway", "kind": "client_flood", "confidence": 0.7}]}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=250, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=250, soft_wrap=True, stderr=True))


@pytest.fixture
def hook() -> Any:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/block", got
    server.shutdown()
    server.server_close()


def test_approve_and_run_an_action_then_refuse_a_second_approval(tmp_path: Path, hook: Any) -> None:
    url, got = hook
    cfg = tmp_path / "system.yaml"
    cfg.write_text(
        Path(demo_config_path()).read_text()
        + f"""
mitigation:
  runbooks:
    - name: block_flood
      when: {{cause_kinds: [client_flood]}}
      actions:
        - name: block_client
          kind: webhook
          url: {url}
          body: {{client: "{{cause_component}}", incident: "{{incident}}"}}
"""
    )
    db = f"sqlite:///{tmp_path / 'i.db'}"

    def with_rca(s: Any, inc: Any) -> None:
        run = start_rca_run(s, incident=inc, flow_run_id=None, inputs_fingerprint="x", code_version="t")
        finish_rca_run(s, run.id, status="completed", results=RCA)

    key = open_incident(db, then=with_rca)
    base = ["incidents", "mitigate", key, "--config", str(cfg), "--store", db, "--as", "user:alice"]

    res = runner.invoke(app, [*base, "--action", "nope", "--yes"])
    assert res.exit_code == 2 and "no proposed action nope; its actions: block_client" in res.output

    res = runner.invoke(app, [*base, "--action", "block_client"], input="n\n")
    assert res.exit_code == 1 and "not confirmed" in res.output and got == []

    res = runner.invoke(app, [*base, "--action", "block_client", "--yes"])
    assert res.exit_code == 0, res.output
    assert f"{key} block_client: succeeded" in res.output
    assert got == [{"client": "gateway", "incident": key}]

    res = runner.invoke(app, [*base, "--action", "block_client", "--yes", "--as", "user:bob"])
    assert res.exit_code == 1 and "already succeeded" in res.output
    assert len(got) == 1
    with Store.from_url(db).session(readonly=True) as s:
        assert get_incident(s, key).state.value == "mitigated"
        steps = [(e.actor, e.payload["step"]) for e in events(s, key) if e.kind is EventKind.MITIGATION]
    assert steps == [
        ("user:alice", "proposed"),
        ("user:alice", "approved"),
        ("user:alice", "started"),
        ("user:alice", "succeeded"),
        ("user:bob", "refused"),
    ]
