"""Export a simulated demo world to real stores: Prometheus (OpenMetrics → TSDB blocks), Parquet, OpenLineage.

``export_demo_world(scenario, dir)`` writes::

    DIR/<scenario>/metrics.om            OpenMetrics, every series labelled {component, scenario}
    DIR/<scenario>/predictions.parquet   the prediction log
    DIR/<scenario>/batches/<node>.parquet
    DIR/<scenario>/changes.jsonl         change events
    DIR/<scenario>/openlineage.jsonl     lineage as OpenLineage run events
    DIR/<scenario>/system.yaml           the demo config reading all of the above

:class:`LocalPrometheus` turns OpenMetrics files into TSDB blocks with ``promtool`` and serves
them with a local ``prometheus`` process, for the demo, the tests and ``bench/prometheus_read.py``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from rcaflows.errors import ConfigError, DataError

INSTALL_HINT = (
    "install Prometheus (Debian/Ubuntu: `apt-get install -y prometheus`, then stop the service it starts: "
    "`service prometheus stop`), or put the `prometheus` and `promtool` binaries on PATH"
)


def _escape(values: pd.Series) -> pd.Series:
    return values.astype(str).str.replace("\\", "\\\\").str.replace('"', '\\"').str.replace("\n", "\\n")


def write_openmetrics(metrics: pd.DataFrame, path: Path, labels: dict[str, str] | None = None) -> Path:
    """Write long-format metrics as an OpenMetrics text file (one gauge family per metric name).

    Values are written in their shortest round-trip form, so Prometheus serves them back exactly.
    """
    extra = "".join(f',{k}="{v}"' for k, v in sorted((labels or {}).items()))
    df = metrics.sort_values(["metric", "component", "timestamp"], kind="stable", ignore_index=True)
    # pandas may hold datetimes in s, ms, us or ns: convert the unit before taking integers
    ms = df["timestamp"].dt.as_unit("ms").astype("int64").to_numpy()
    ms_str = pd.Series(ms // 1000).astype(str) + "." + pd.Series(ms % 1000).astype(str).str.zfill(3)
    values = pd.Series(np.asarray(df["value"], dtype=float).astype(str)).replace(
        {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}
    )
    lines = (
        df["metric"].astype(str)
        + '{component="'
        + _escape(df["component"])
        + '"'
        + extra
        + "} "
        + values
        + " "
        + ms_str
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for metric, idx in df.groupby("metric", sort=True).indices.items():
            fh.write(f"# TYPE {metric} gauge\n")
            fh.write("\n".join(lines.iloc[idx]) + "\n")
        fh.write("# EOF\n")
    return path


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str) -> str:
    """Return the path of ``prometheus`` or ``promtool``; absent binaries raise ConfigError with the fix."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        raise ConfigError(f"{name}: binary not found; {INSTALL_HINT}")
    return path


def build_blocks(openmetrics: Sequence[Path], tsdb: Path) -> Path:
    """Turn OpenMetrics files into Prometheus TSDB blocks under ``tsdb`` with ``promtool``; return ``tsdb``."""
    promtool = find_binary("promtool")
    tsdb.mkdir(parents=True, exist_ok=True)
    for om in openmetrics:
        out = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tsdb)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise DataError(f"{om}: promtool could not build TSDB blocks: {(out.stderr or out.stdout).strip()[-500:]}")
    return tsdb


@dataclass
class LocalPrometheus:
    """A throwaway Prometheus on 127.0.0.1 serving TSDB blocks built from OpenMetrics files.

    Use as a context manager; the process and (unless ``directory`` is given) its files are
    removed on exit.
    """

    openmetrics: Sequence[Path] = ()
    directory: Path | None = None
    port: int = 0
    web_config: dict[str, Any] | None = None
    lookback: str = "30s"
    url: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def __enter__(self) -> LocalPrometheus:
        self.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()

    def start(self, ready_timeout: float = 60.0) -> None:
        """Build the blocks, start the server and wait until ``/-/ready`` answers."""
        prometheus = find_binary("prometheus")
        if self.directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rcaflows-prometheus-")
            self.directory = Path(self._tmp.name)
        data = build_blocks(self.openmetrics, self.directory / "data")
        config = self.directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1m\n")
        self.port = self.port or free_port()
        args = [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=100y",
            f"--query.lookback-delta={self.lookback}",
        ]
        auth = None
        if self.web_config is not None:
            web = self.directory / "web.yml"
            web.write_text(yaml.safe_dump(self.web_config))
            args.append(f"--web.config.file={web}")
            users = self.web_config.get("basic_auth_users") or {}
            auth = (next(iter(users)), "") if users else None
        log = (self.directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.directory / "prometheus.log").read_text()[-1500:]
                raise DataError(f"prometheus exited with code {self.process.returncode} on start:\n{tail}")
            try:
                r = httpx.get(f"{self.url}/-/ready", timeout=1.0, auth=auth)
                if r.status_code in (200, 401):  # 401: up, behind basic auth
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise DataError(f"prometheus on {self.url} not ready after {ready_timeout:g} s")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temporary files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


@dataclass(frozen=True)
class ExportedWorld:
    """Where one scenario's world was written."""

    scenario: str
    directory: Path
    config: Path
    openmetrics: Path


def _parquet(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False, row_group_size=10_000)
    return path


def export_demo_world(
    scenario: str,
    directory: Path,
    prometheus_url: str = "http://127.0.0.1:9090",
    seed: int = 7,
) -> ExportedWorld:
    """Write one simulated scenario world to OpenMetrics, Parquet and OpenLineage files plus its config.

    The config's sources read the metrics from ``prometheus_url`` (series labelled
    ``scenario=<name>``), the predictions and batches from Parquet, the changes from a JSON-lines
    log; its lineage is built from the OpenLineage events.
    """
    from rcaflows.demo import simulate
    from rcaflows.demo.config import bundled_config_path, demo_config
    from rcaflows.sources.openlineage import from_lineage_config, load_openlineage, to_lineage_config, write_events

    world = simulate(scenario, seed=seed)
    data = world.data
    out = directory / scenario
    out.mkdir(parents=True, exist_ok=True)
    om = write_openmetrics(data.metrics, out / "metrics.om", {"scenario": scenario})
    cfg = demo_config()
    sources: list[dict[str, Any]] = [
        {
            "name": "prometheus",
            "kind": "prometheus",
            "options": {
                "url": prometheus_url,
                "step": "60s",
                "timeout": "30s",
                "queries": [
                    {"query": f'{m}{{scenario="{scenario}"}}', "metric": m, "component_label": "component"}
                    for m in sorted(data.metrics["metric"].unique())
                ],
            },
        }
    ]
    if not data.predictions.empty:
        _parquet(data.predictions, out / "predictions.parquet")
        sources.append(
            {
                "name": "prediction-log",
                "kind": "parquet",
                "options": {"path": str(out / "predictions.parquet"), "frame": "predictions"},
            }
        )
    for node, frame in sorted(data.batches.items()):
        path = _parquet(frame, out / "batches" / f"{node}.parquet")
        sources.append(
            {"name": f"batch-{node}", "kind": "parquet", "options": {"path": str(path), "frame": "batch", "node": node}}
        )
    changes = out / "changes.jsonl"
    ch = data.changes.assign(timestamp=data.changes["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    changes.write_text(ch.to_json(orient="records", lines=True) if not ch.empty else "")
    sources.append({"name": "change-log", "kind": "changes", "options": {"path": str(changes)}})
    events = write_events(from_lineage_config(cfg.lineage, namespace="fraud-scoring"), out / "openlineage.jsonl")
    lineage = to_lineage_config(load_openlineage(events).graph)
    doc = cfg.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["system"]["name"] = f"{cfg.system.name}/{scenario}"
    doc["sources"] = sources
    # the file's store, not one an RCAFLOWS_STORE_URL of this process put there
    doc["store"] = (yaml.safe_load(bundled_config_path().read_text()) or {}).get("store", {})
    doc["lineage"] = lineage.model_dump(mode="json", exclude_none=True)
    config = out / "system.yaml"
    config.write_text(
        f"# generated by rcaflows.demo.export for scenario {scenario}; lineage from {events.name}\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    return ExportedWorld(scenario=scenario, directory=out, config=config, openmetrics=om)


@contextmanager
def exported_demo(
    names: Sequence[str], directory: Path, prometheus_url: str | None = None
) -> Iterator[dict[str, Path]]:
    """Export each scenario's world and yield its config path; without a URL, serve the metrics locally.

    With ``prometheus_url`` the server must already hold the exported series (``python -m
    rcaflows.demo.export DIR`` builds the blocks); otherwise a :class:`LocalPrometheus` is started on
    ``DIR/prometheus`` and stopped on exit.
    """
    port = free_port()
    url = prometheus_url or f"http://127.0.0.1:{port}"
    worlds = [export_demo_world(n, directory, prometheus_url=url) for n in names]
    configs = {w.scenario: w.config for w in worlds}
    if prometheus_url is not None:
        yield configs
        return
    shutil.rmtree(directory / "prometheus", ignore_errors=True)
    with LocalPrometheus([w.openmetrics for w in worlds], directory=directory / "prometheus", port=port):
        yield configs


def main(argv: Sequence[str] | None = None) -> None:
    """Export demo worlds and build their TSDB blocks: ``python -m rcaflows.demo.export DIR [--url URL]``."""
    import argparse

    from rcaflows.demo import SCENARIOS

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--scenario", default="all", help="scenario name or 'all'")
    parser.add_argument("--url", default="http://127.0.0.1:9090", help="Prometheus URL written into the configs")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    worlds = [export_demo_world(n, args.directory, prometheus_url=args.url) for n in names]
    tsdb = build_blocks([w.openmetrics for w in worlds], args.directory / "tsdb")
    print(f"configs: {', '.join(str(w.config) for w in worlds)}")
    print(
        f"serve with: prometheus --storage.tsdb.path={tsdb} --storage.tsdb.retention.time=100y "
        "--query.lookback-delta=30s"
    )


if __name__ == "__main__":
    main()
