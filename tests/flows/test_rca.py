from __future__ import annotations

from pathlib import Path

import pytest
from flows.detection import detection
from flows.rca import rca
from prefect.client.orchestration import get_client

from rcaflows.config import load_config
from rcaflows.demo import DEMO_END, write_demo_config
from rcaflows.errors import EmptyWindowError, NotFoundError
from rcaflows.incidents import Store, events, get_incident, rca_runs
from rcaflows.rca import PHASES
from rcaflows.rca.models import PhaseName


def _demo(scenario: str) -> str:
    """Return the path of the demo's config of ``scenario``, written in the test's working directory."""
    return str(write_demo_config(scenario, Path("configs")))


def _store() -> Store:
    return Store.from_url(load_config().store.url)


def test_detection_opens_triaged_incidents_and_investigates_them(workdir: Path) -> None:
    result = detection(at=DEMO_END, config=_demo("deploy_latency"))
    opened = [i for i in result["incidents"] if i["created"]]
    assert opened, result
    perf = [i for i in opened if i["type"] == "performance_availability"]
    assert perf and perf[0]["team"] and perf[0]["severity"] in {"critical", "high", "medium", "low"}
    inv = {i["incident"]: i for i in result["investigations"]}
    assert set(inv) == {i["key"] for i in opened}
    assert inv[perf[0]["key"]]["top"] == "scoring_api"
    with _store().session() as s:
        inc = get_incident(s, perf[0]["key"])
        assert str(inc.state) == "investigating"
        assert inc.triaged_at is not None and inc.investigating_at is not None
        kinds = [str(e.kind) for e in events(s, inc)]
        runs = rca_runs(s, inc)
    assert kinds[0] == "detected" and "rca_started" in kinds and "rca_completed" in kinds
    assert kinds.count("rca_phase") == 5
    assert len(runs) == 1 and runs[0].flow_run_id and str(runs[0].status) == "completed"
    assert runs[0].results["hypotheses"][0]["component"] == "scoring_api"
    html = Path(runs[0].report_html)
    assert html.exists() and "scoring_api" in html.read_text()


def test_rerun_keeps_both_runs_and_a_second_detection_deduplicates(workdir: Path) -> None:
    first = detection(at=DEMO_END, config=_demo("dependency_timeout"))
    key = next(i["key"] for i in first["incidents"] if i["type"] == "integration_dependency")
    again = rca(incident=key)
    assert again["incident"] == key
    second = detection(at=DEMO_END, config=_demo("dependency_timeout"), run_rca=False)
    assert all(not i["created"] for i in second["incidents"])
    with _store().session() as s:
        inc = get_incident(s, key)
        runs = rca_runs(s, inc)
        assert inc.occurrences == 1  # the same hour detected again is not a second occurrence (issue 13)
        assert not any(str(e.kind) == "duplicate" for e in events(s, inc))
    assert len(runs) == 2 and runs[0].id != runs[1].id
    assert runs[0].inputs_fingerprint == runs[1].inputs_fingerprint  # same inputs, two recorded runs
    assert runs[0].flow_run_id != runs[1].flow_run_id


def test_rca_publishes_markdown_and_table_artifacts(workdir: Path) -> None:
    import asyncio

    first = detection(at=DEMO_END, config=_demo("query_flood"), run_rca=False)
    key = next(i["key"] for i in first["incidents"] if i["type"] == "security_adversarial")
    rca(incident=key)

    async def latest() -> dict[str, str]:
        async with get_client() as client:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=f"rca-{key.lower()}"))
            )
            return {a.key: a.type for a in arts}

    kinds = asyncio.run(latest())
    assert kinds.get(f"rca-{key.lower()}") == "markdown"
    assert kinds.get(f"rca-{key.lower()}-causes") == "table"


def test_a_failing_phase_is_reported_and_synthesis_runs_on_the_others(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phase = PHASES[PhaseName.LINEAGE]

    def broken(ctx: object) -> None:
        raise RuntimeError("lineage store unreachable")

    monkeypatch.setattr(phase, "run", broken)
    out = rca(config=_demo("deploy_latency"), component="gateway", metric="latency_p95_ms", end=DEMO_END)
    assert out["failed_phases"] == ["lineage"]
    assert out["top"] == "scoring_api"
    assert "lineage store unreachable" in Path(out["report"]["html"]).read_text()


def test_unknown_incident_and_empty_window_fail_the_run_with_a_clear_message(workdir: Path) -> None:
    import yaml

    from rcaflows.config import demo_config_path

    state = rca(incident="INC-9999", return_state=True)
    assert state.is_failed()
    with pytest.raises(NotFoundError, match="INC-9999"):
        state.result()
    # A files source whose data lies outside the window: the run fails and says so.
    data_dir = workdir / "data"
    data_dir.mkdir()
    (data_dir / "metrics.csv").write_text(
        "timestamp,component,metric,value\n2020-01-01T00:00:00Z,gateway,latency_p95_ms,1\n"
    )
    raw = yaml.safe_load(demo_config_path().read_text())
    raw["sources"] = [{"name": "files", "kind": "files", "options": {"directory": str(data_dir)}}]
    cfg_path = workdir / "system.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    state = rca(config=str(cfg_path), component="gateway", metric="latency_p95_ms", end=DEMO_END, return_state=True)
    assert state.is_failed()
    with pytest.raises(EmptyWindowError, match="no data from sources files"):
        state.result()
