"""The ``action-reminders`` flow on the Prefect test harness: an overdue item reaches its team's channels."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from flows.postmortem import action_reminders

from rcaflows.config import load_config
from rcaflows.demo import write_demo_config
from rcaflows.incidents import NewIncident, Store, open_or_touch
from rcaflows.postmortem import add_action
from rcaflows.timeutil import now_utc


def test_overdue_item_is_sent_to_the_owning_team_once(workdir: Path) -> None:
    path = str(write_demo_config("no_fault", Path("configs")))
    cfg = load_config(path)
    store = Store.from_url(cfg.store.url)
    store.create_all()
    with store.session() as s:
        inc, _ = open_or_touch(
            s,
            NewIncident(
                system=cfg.system.name,
                type="performance_availability",
                subtype="latency",
                component="gateway",
                metric="latency_p95_ms",
                title="gateway latency x2",
                severity="high",
                priority="P2",
                team="sre",
                detected_at=now_utc() - timedelta(days=20),
            ),
        )
        item = add_action(s, inc, "Add a latency SLO alert", "team:sre", "pm", due_at=now_utc() - timedelta(days=3))
        key, item_id = inc.key, item.id

    sent = action_reminders(config=path)
    assert {(r["item"], r["channel"], r["ok"]) for r in sent} == {
        (item_id, "console", True),
        (item_id, "sre-file", True),
    }
    sre = next(c for c in cfg.notifications if c.name == "sre-file")
    lines = [json.loads(x) for x in Path(sre.path or "").read_text(encoding="utf-8").splitlines()]
    assert [x["dedup_key"] for x in lines] == [f"rcaflows/{cfg.system.name}/{key}/action-{item_id}"]
    assert "overdue by 3d" in json.dumps(lines[0])
    again = action_reminders(config=path)  # within a day: not sent again
    assert all(r["skipped"] for r in again) and len(Path(sre.path or "").read_text().splitlines()) == 1
