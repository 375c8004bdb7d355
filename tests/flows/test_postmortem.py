"""End to end on the demo: detection notifies, RCA updates the message, resolution gets a post-mortem draft."""

from __future__ import annotations

import json
from pathlib import Path

from flows.detection import detection
from flows.postmortem import postmortem

from rcaflows.config import load_config
from rcaflows.demo import DEMO_END, write_demo_config
from rcaflows.incidents import Action, Store, get_incident, transition
from rcaflows.notify import notifications


def _demo(scenario: str) -> str:
    """Return the path of the demo's config of ``scenario``, written in the test's working directory."""
    return str(write_demo_config(scenario, Path("configs")))


def test_incident_is_notified_updated_resolved_and_gets_a_postmortem(workdir: Path) -> None:
    result = detection(at=DEMO_END, config=_demo("deploy_latency"))
    opened = [i for i in result["incidents"] if i["created"]]
    assert opened
    key = opened[0]["key"]
    store = Store.from_url(load_config().store.url)
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        channels = inc.details["channels"]
        recs = {r.channel: r for r in notifications(s, inc)}
    assert channels and set(recs) == set(channels)  # one message per triage channel
    # opened + updated once the RCA named a cause: two deliveries, still one record per channel
    assert all(r.deliveries == 2 and r.status.value == "sent" for r in recs.values())
    assert all(r.last_message["top_cause"] for r in recs.values())

    with store.session() as s:
        transition(s, key, Action.RESOLVE, "user:test", resolution="fixed")
    out = postmortem(incident=key)
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        recs = {r.channel: r for r in notifications(s, inc)}
    assert out["time_to_resolve_s"] == (inc.resolved_at - inc.detected_at).total_seconds()
    assert out["time_to_acknowledge_s"] is None
    md = Path(out["markdown"]).read_text(encoding="utf-8")
    for text in (
        f"# Post-mortem (draft): {key}",
        "| detection |",
        "| triage |",
        "| notification |",
        "| rca finding |",
        "| resolution |",
        "Never acknowledged before it was resolved.",
    ):
        assert text in md
    assert all(r.deliveries == 3 and r.last_message["state"] == "resolved" for r in recs.values())
    file_channels = [c for c in load_config().notifications if c.kind.value == "file" and c.name in channels]
    for ch in file_channels:
        lines = [json.loads(x) for x in Path(ch.path or "").read_text().splitlines()]
        mine = [x["action"] for x in lines if x["dedup_key"].endswith(key)]
        assert mine == ["trigger", "update", "resolve"]
