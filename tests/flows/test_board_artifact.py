"""The ``incidents-open`` board artifact, published by the flows, read back through the Prefect API."""

from __future__ import annotations

import asyncio
import functools
import http.server
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flows.detection import detection
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from rcaflows.board import BOARD_KEY
from rcaflows.config import load_config
from rcaflows.demo import DEMO_END
from rcaflows.demo.config import demo_document
from rcaflows.incidents import Store, list_incidents
from rcaflows.reporting.storage import REPORT_BASE_URL_ENV


async def _latest_board() -> str:
    async with get_client() as client:
        (art,) = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[BOARD_KEY]))
        )
        assert art.type == "markdown"
        return str(art.data)


@pytest.fixture
def report_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Serve a reports directory over HTTP on localhost; yield the directory and its base URL."""
    root = tmp_path / "served-reports"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/rca"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_detection_publishes_the_board_with_links_that_resolve(
    workdir: Path, report_server: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, base = report_server
    monkeypatch.delenv(REPORT_BASE_URL_ENV, raising=False)
    doc = demo_document("deploy_latency")
    # reports written through fsspec (a file:// URL) into the directory the HTTP server serves under /rca
    doc["rca"] |= {"reports_dir": (served / "rca").as_uri(), "reports_base_url": base}
    config = workdir / "deploy_latency.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))

    result = detection(at=DEMO_END, config=str(config))
    assert [i for i in result["incidents"] if i["created"]], result

    board = asyncio.run(_latest_board())
    cfg = load_config(str(config))
    with Store.from_url(cfg.store.url).session(readonly=True) as s:
        open_ = [(i.priority.value, i.key) for i in list_incidents(s, system=cfg.system.name)]
    assert open_ and f"{len(open_)} open" in board
    listed = re.findall(r"^\| (P\d) \| (INC-\d+):", board, flags=re.M)
    assert sorted(listed) == sorted(open_)  # every open incident, with its priority
    assert [p for p, _ in listed] == sorted(p for p, _ in listed)  # P1 first
    links = re.findall(r"\]\((http://127\.0\.0\.1:\d+/rca/[^)]+\.html)\)", board)
    assert links, board
    with urllib.request.urlopen(links[0], timeout=10) as resp:
        assert resp.status == 200
        assert b"<html" in resp.read(4096).lower()
