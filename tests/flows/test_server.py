"""Operate rcaflows as a user of the Prefect UI would, against a REAL ``prefect server``.

One module-scoped ``prefect server start`` (temporary ``PREFECT_HOME``, free localhost port) and
one ``rcaflows serve`` subprocess serving every deployment; runs are started through the API the
UI uses (``create_flow_run_from_deployment`` with parameters) and by the detection event.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rcaflows.demo import DEMO_END, write_demo_config
from rcaflows.demo.config import demo_document
from rcaflows.incidents import Incident, Store, events, get_incident, rca_runs

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "src" / "rcaflows" / "demo" / "system.yaml"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
#: the tests on the served API share one worker, so ``prefect server`` starts once per run, not per worker
ON_SERVER = pytest.mark.xdist_group("prefect-server")


@dataclass
class Served:
    api: str
    env: dict[str, str]
    work: Path
    store_url: str
    event_config: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(api: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                if r.read().strip() == b"true":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"prefect server at {api} not healthy after {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _client(api: str) -> Any:
    from prefect.client.orchestration import PrefectClient

    return PrefectClient(api=api)


async def _wait_deployments(api: str, names: list[str], proc: subprocess.Popen[bytes], log: Path) -> None:
    async with _client(api) as c:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"rcaflows serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                for n in names:
                    await c.read_deployment_by_name(n)
                return
            except Exception:
                await asyncio.sleep(0.5)
    raise TimeoutError(f"deployments {names} not registered:\n{log.read_text()[-3000:]}")


async def _start(api: str, deployment: str, parameters: dict[str, Any]) -> str:
    async with _client(api) as c:
        dep = await c.read_deployment_by_name(deployment)
        fr = await c.create_flow_run_from_deployment(dep.id, parameters=parameters)
        return str(fr.id)


async def _wait_run(api: str, flow_run_id: str, timeout: float = 240) -> Any:
    async with _client(api) as c:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fr = await c.read_flow_run(flow_run_id)
            if fr.state is not None and fr.state.type.value in TERMINAL:
                return fr
            await asyncio.sleep(0.5)
    raise TimeoutError(f"flow run {flow_run_id} did not finish in {timeout} s")


async def _artifacts(api: str, flow_run_id: str) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with _client(api) as c:
        return list(
            await c.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
        )


def test_served_deployments_match_the_prefect_yaml() -> None:
    from flows.serve import RCA_EVENT_PARAMETERS, deployments

    served = {f"{d.flow_name}/{d.name}": d for d in deployments()}
    assert {"detection/hourly", "rca/on-demand"} <= set(served)
    (trigger,) = served["rca/on-demand"].triggers
    assert trigger.expect == {"rcaflows.incident.detected", "rcaflows.incident.rca-requeued"}
    # only events from detection in event mode start an RCA, so subflow mode never runs it twice
    assert trigger.match.model_dump()["rcaflows.rca.mode"] == "event"
    proposed = yaml.safe_load((REPO / "prefect.yaml").read_text())
    by_entry = {d["entrypoint"]: d for d in proposed["deployments"]}
    (yaml_trigger,) = by_entry["flows/rca.py:rca"]["triggers"]
    assert yaml_trigger["parameters"] == RCA_EVENT_PARAMETERS
    assert yaml_trigger["match"]["rcaflows.rca.mode"] == "event"
    assert set(yaml_trigger["expect"]) == trigger.expect
    assert by_entry["flows/detection.py:detection"]["schedules"][0]["cron"] == "0 * * * *"
    assert served["rca/on-demand"]._parameter_openapi_schema.properties["incident"]["anyOf"][0]["pattern"]


def test_report_link_is_file_url_or_under_the_configured_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.rca import REPORT_BASE_URL_ENV, report_url

    html = tmp_path / "INC-0042-run3.html"
    monkeypatch.delenv(REPORT_BASE_URL_ENV, raising=False)
    assert report_url(html) == html.resolve().as_uri()
    monkeypatch.setenv(REPORT_BASE_URL_ENV, "https://reports.example/rca/")
    assert report_url(html) == "https://reports.example/rca/INC-0042-run3.html"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Start ``prefect server`` and ``rcaflows serve`` for the module; stop both afterwards."""
    root = tmp_path_factory.mktemp("prefect-server")
    work = root / "work"
    work.mkdir()
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    store_url = f"sqlite:///{work / 'incidents.db'}"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k == "PREFECT_SERVER_ANALYTICS_ENABLED"
    }
    env |= {
        "PREFECT_HOME": str(root / "home"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "RCAFLOWS_STORE_URL": store_url,
    }
    server_log = root / "server.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(
            ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    procs = [server]
    try:
        started = time.monotonic()
        _wait_healthy(api, server, server_log)
        print(f"\nprefect server healthy after {time.monotonic() - started:.1f} s at {api}")
        env["PREFECT_API_URL"] = api
        serve_log = root / "serve.log"
        rcaflows = shutil.which("rcaflows")
        cmd = [rcaflows, "serve", "--limit", "4"] if rcaflows else [sys.executable, "-m", "rcaflows.cli", "serve"]
        with serve_log.open("wb") as out:
            serving = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        procs.append(serving)
        _run(_wait_deployments(api, ["detection/hourly", "rca/on-demand"], serving, serve_log))
        cfg = demo_document("dependency_timeout")
        cfg["rca"]["mode"] = "event"
        event_config = work / "event-mode.yaml"
        event_config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        yield Served(api=api, env=env, work=work, store_url=store_url, event_config=event_config)
    finally:
        for p in reversed(procs):
            _stop(p)
        Store.clear_cache()


@pytest.mark.slow
@ON_SERVER
def test_ui_started_rca_run_completes_with_artifacts_and_audit_log(served: Served) -> None:
    # Open the incidents as the hourly schedule would, without RCA, through the detection deployment.
    det_id = _run(
        _start(
            served.api,
            "detection/hourly",
            {
                "config": str(write_demo_config("deploy_latency", served.work)),
                "at": DEMO_END.isoformat(),
                "run_rca": False,
            },
        )
    )
    det = _run(_wait_run(served.api, det_id))
    assert det.state.type.value == "COMPLETED", det.state.message
    store = Store.from_url(served.store_url)
    key = _incident_keys(store, "deploy_latency")[0]
    # the detection run published the live board, listing the incident it opened
    boards = [a for a in _run(_artifacts(served.api, det_id)) if a.key == "incidents-open"]
    assert len(boards) == 1 and boards[0].type == "markdown", boards
    assert f"| {key}: " in boards[0].data

    rca_id = _run(_start(served.api, "rca/on-demand", {"incident": key}))
    fr = _run(_wait_run(served.api, rca_id))
    assert fr.state.type.value == "COMPLETED", fr.state.message
    assert fr.name.startswith(f"rca/{key}/")
    assert {"rcaflows", "rca"} <= set(fr.tags)

    # Prefect stores a link artifact as Markdown "[text](url)"; find the three by key.
    arts = {a.key: a for a in _run(_artifacts(served.api, rca_id))}
    k = key.lower()
    assert {f"rca-{k}", f"rca-{k}-causes", f"rca-{k}-report"} <= set(arts), list(arts)
    assert arts[f"rca-{k}-causes"].type == "table"
    assert key in arts[f"rca-{k}"].data
    link = arts[f"rca-{k}-report"].data
    url = link.rsplit("](", 1)[-1].rstrip(")")
    assert url.startswith("file://") and url.endswith(".html"), link
    html = Path(url.removeprefix("file://"))
    assert html.exists() and html.read_text().count('<img src="data:image/png;base64,') >= 2

    with store.session() as s:
        inc = get_incident(s, key)
        kinds = [str(e.kind) for e in events(s, inc)]
        runs = rca_runs(s, inc)
    assert "rca_started" in kinds and "rca_completed" in kinds
    assert [r.flow_run_id for r in runs] == [rca_id]


@pytest.mark.slow
@ON_SERVER
def test_bad_parameters_fail_the_run_with_the_reason(served: Served) -> None:
    unknown = _run(_wait_run(served.api, _run(_start(served.api, "rca/on-demand", {"incident": "INC-9999"}))))
    assert unknown.state.type.value == "FAILED"
    assert "INC-9999" in (unknown.state.message or "")
    metric = _run(
        _wait_run(
            served.api,
            _run(
                _start(
                    served.api,
                    "rca/on-demand",
                    {"component": "gateway", "metric": "no_such_metric", "end": DEMO_END.isoformat()},
                )
            ),
        )
    )
    assert metric.state.type.value == "FAILED"
    assert "no_such_metric" in (metric.state.message or "")


@pytest.mark.slow
@ON_SERVER
def test_detection_event_starts_the_rca_through_the_automation(served: Served) -> None:
    det_id = _run(
        _start(
            served.api,
            "detection/hourly",
            {"config": str(served.event_config), "at": DEMO_END.isoformat()},
        )
    )
    det = _run(_wait_run(served.api, det_id))
    assert det.state.type.value == "COMPLETED", det.state.message
    opened = _incident_keys(Store.from_url(served.store_url), "dependency_timeout")
    assert opened

    async def rca_runs_for(keys: list[str]) -> list[Any]:
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName

        async with _client(served.api) as c:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                runs = await c.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["rca"])))
                mine = [r for r in runs if r.parameters.get("incident") in keys]
                if len(mine) >= len(keys) and all(r.state and r.state.type.value in TERMINAL for r in mine):
                    return mine
                await asyncio.sleep(1)
        raise TimeoutError(f"no RCA runs for {keys}")

    runs = _run(rca_runs_for(opened))
    assert all(r.state.type.value == "COMPLETED" for r in runs), [r.state.message for r in runs]
    # exactly one RCA per incident, each started from the deployment (an in-process subflow has none)
    assert sorted(r.parameters["incident"] for r in runs) == sorted(opened)
    assert all(r.deployment_id is not None and r.parent_task_run_id is None for r in runs)
    assert all(r.parameters["config"] == str(served.event_config) for r in runs)
    emitted = _run(_events(served.api, "rcaflows.incident.detected"))
    ours = [e for e in emitted if e["resource"]["rcaflows.incident.id"] in opened]
    assert ours and all(e["resource"]["rcaflows.rca.mode"] == "event" for e in ours)
    from datetime import datetime

    occurred = {e["resource"]["rcaflows.incident.id"]: datetime.fromisoformat(e["occurred"]) for e in ours}
    started = [(r.start_time - occurred[r.parameters["incident"]]).total_seconds() for r in runs]
    done = [(r.end_time - occurred[r.parameters["incident"]]).total_seconds() for r in runs]
    print(
        f"\nevent -> RCA run started: {min(started):.1f}-{max(started):.1f} s; event -> RCA run completed: "
        f"{min(done):.1f}-{max(done):.1f} s ({len(runs)} incidents: {', '.join(sorted(opened))})"
    )


def _incident_keys(store: Store, scenario: str) -> list[str]:
    """Return the keys of the incidents a demo scenario opened, oldest first."""
    with store.session() as s:
        rows = s.query(Incident).filter(Incident.system.endswith(f"/{scenario}")).order_by(Incident.id)
        return [i.key for i in rows]


async def _events(api: str, name: str) -> list[dict[str, Any]]:
    async with _client(api) as c:
        r = await c._client.post("/events/filter", json={"filter": {"event": {"name": [name]}}, "limit": 50})
        r.raise_for_status()
        return list(r.json()["events"])
