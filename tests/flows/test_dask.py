"""The hourly scan and the RCA flow on Prefect's Dask task runner find what the in-process run finds.

A real ``distributed.LocalCluster`` (2 worker processes) is started by the test and named by
address in the config (``execution.dask_address``), as an existing cluster would be; the
scheduler's record of executed task keys proves the work went through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rcaflows.demo
from rcaflows.demo import DEMO_END

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]  # one cluster for the module, on one worker

SCENARIO = "deploy_latency"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Start a LocalCluster of two single-threaded worker processes for the module."""
    import logging

    from distributed import LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def _config(tmp_path: Path, name: str, execution: str = "") -> str:
    text = rcaflows.demo.write_demo_config(SCENARIO, tmp_path / "demo").read_text()
    path = tmp_path / name
    path.write_text(text + ("\nexecution:\n" + execution if execution else ""))
    return str(path)


def _task_names(cluster: Any) -> set[str]:
    return {str(prefix) for prefix in cluster.scheduler.task_prefixes}


def _incidents(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((i["type"], i["component"], i["fingerprint"]) for i in result["incidents"])


def test_sharded_detection_on_dask_opens_the_same_incidents(workdir: Path, cluster: Any) -> None:
    from flows.detection import detection

    inproc = _config(workdir, "inproc.yaml")
    on_dask = _config(
        workdir,
        "dask.yaml",
        f"  task_runner: dask\n  dask_address: {cluster.scheduler_address}\n  shards: 4\n",
    )
    before = _task_names(cluster)
    a = detection(config=inproc, at=DEMO_END, run_rca=False)
    assert _task_names(cluster) == before  # the in-process run did not touch the cluster
    b = detection(config=on_dask, at=DEMO_END, run_rca=False)
    ran = _task_names(cluster) - before
    assert "detect_shard" in ran and "detect_whole" in ran, ran
    assert a["incidents"], "the scenario should open incidents"
    assert _incidents(a) == _incidents(b)
    assert (a["checks"], a["failed_checks"], a["fdr"]) == (b["checks"], b["failed_checks"], b["fdr"])
    assert [i["created"] for i in b["incidents"]] == [False] * len(b["incidents"])  # deduplicated, not doubled


def test_rca_on_dask_ranks_the_same_causes(workdir: Path, cluster: Any) -> None:
    from flows.detection import detection
    from flows.rca import rca
    from prefect_dask import DaskTaskRunner

    cfg = _config(workdir, "inproc.yaml")
    found = detection(config=cfg, at=DEMO_END, run_rca=False)
    key = next(i["key"] for i in found["incidents"] if i["created"])
    before = _task_names(cluster)
    a = rca(incident=key, config=cfg)
    b = rca.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))(incident=key, config=cfg)
    assert "run_phase" in _task_names(cluster) - before
    assert a["top"] is not None
    assert (a["top"], a["top_metric"], a["hypotheses"], a["failed_phases"]) == (
        b["top"],
        b["top_metric"],
        b["hypotheses"],
        b["failed_phases"],
    )
    assert a["rca_run_id"] != b["rca_run_id"]
