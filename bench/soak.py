"""Soak run: days of hourly detection on the demo system with faults injected at random, then a count.

Usage::

    python bench/soak.py [--days 7] [--seed 11] [--store sqlite:///PATH] [--json bench/results/soak.json]

Builds one continuous simulated world of the bundled fraud-scoring system (the baseline day plus
``--days``) with one single-fault demo scenario a day injected (each at most once, in a random order), each at a
random hour of its own day (by noon on the last) (:func:`rcaflows.demo.simulate_scenario`; faults persist, as an
unattended one does). A source registered here serves slices of that one world, and
:func:`rcaflows.pipeline.detect_and_open` (what the hourly flow runs: load, scan, group, silences,
inhibition, dedup, pending, triage) runs for every hour end against a real SQLite file store;
each new incident is investigated (:func:`rcaflows.pipeline.investigate`, all five phases), and an
hour after a fault is fixed the operator resolves the incidents that belong to it (its root cause
ranked first, or among the incident's components), so a fault that re-opens after its fix counts.

Afterwards every injected fault must have produced exactly one incident of its own
(:func:`rcaflows.demo.evaluate.evaluate`, the demo's own scoring), nothing opened that matches no
fault (incidents only on a scenario's declared distractors are listed apart), every incident an
hourly run reported opening is in the store exactly once, and the memory of the process must not
grow from the first day to the last (resident set size after each day's last run, after a
garbage collection). Prints the figures and writes them as JSON; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.demo import DEMO_END, SCENARIOS, FaultTruth, Part, Scenario, demo_config, simulate_scenario
from rcaflows.demo.evaluate import incident_matches
from rcaflows.incidents import Store, get_incident, resolve
from rcaflows.incidents.models import Incident
from rcaflows.pipeline import detect_and_open, investigate, investigation, load_window
from rcaflows.rca.service import plan_for_incident
from rcaflows.sources.base import register
from rcaflows.vocab import IncidentState

BENCH = Path(__file__).resolve().parent
#: how long an injected fault lasts before it is fixed, in hours (drawn uniformly)
FAULT_HOURS = (2, 6)
#: how long after the fix the operator resolves the fault's incidents
RESOLVE_AFTER = timedelta(hours=1)
#: growth of the resident set from the first day to the last that still counts as flat (allocator noise)
RSS_SLACK_MIB = 64.0


@dataclass
class WorldSource:
    """Serve ``[start, end)`` of one fixed simulated world (the demo source re-simulates per hour)."""

    name: str
    data: MonitoringData

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Return the world's frames for ``[start, end)``."""
        return self.data.slice(start, end)


def soak_scenario(days: int, seed: int, end: datetime) -> Scenario:
    """Return every single-fault demo scenario as one part each, in random order, one per day at a random hour."""
    rng = random.Random(seed)
    singles = [s for s in SCENARIOS.values() if s.onset_before_end is not None and not s.parts]
    # one fault a day: every single-fault scenario when there are days enough, a random choice otherwise
    singles = rng.sample(singles, k=min(days, len(singles)))
    parts = []
    for day, s in enumerate(singles):
        # day 0 is the first replayed day; a fault on the last one starts by noon, so hours of runs see it
        last = 12 if day == days - 1 else 22
        onset = end - timedelta(days=days) + timedelta(days=day, hours=rng.randint(1, last), minutes=rng.randint(0, 59))
        duration = timedelta(hours=rng.randint(*FAULT_HOURS))
        parts.append(Part(scenario=s.name, onset_before_end=end - onset, duration=duration))
    return Scenario(
        name="soak",
        description=f"{len(parts)} faults over {days} days",
        onset_before_end=None,
        distractors=sorted({d for s in singles for d in s.distractors}),
        parts=tuple(parts),
    )


def rss_mib() -> float:
    """Return the current resident set size of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _investigate(store: Store, cfg: SystemConfig, key: str) -> dict[str, Any]:
    """Run the RCA of a new incident as the flow does (all phases) and return its top causes."""
    plan = plan_for_incident(store, cfg, key)
    result = investigate(investigation(cfg, plan, load_window(cfg, plan.start, plan.end)))
    ranked = [h.component for h in result.hypotheses]
    return {"incident": key, "top": ranked[0] if ranked else None, "hypotheses": ranked[: cfg.rca.top_k]}


def owner(incident: dict[str, Any], investigation: dict[str, Any] | None, faults: list[FaultTruth]) -> int | None:
    """Return the fault an incident belongs to: the latest one live when it opened that it matches.

    Live: from the fault's onset until ``RESOLVE_AFTER`` after its fix (the last run that can
    still see it). Matches: the incident's RCA ranks the fault's root cause first, or the root is
    among its components (the demo's own rule, :func:`rcaflows.demo.evaluate.incident_matches`).
    """
    at = datetime.fromisoformat(incident["at"])
    live = [
        n
        for n, f in enumerate(faults)
        if f.onset <= at <= (f.until or at) + RESOLVE_AFTER
        and incident_matches(incident, investigation, f.root_cause_component)
    ]
    return max(live, key=lambda n: faults[n].onset) if live else None


def _resolve_fault(store: Store, n: int, opened: list[dict[str, Any]], at: datetime, root: str) -> None:
    """Resolve, as the operator who fixed fault ``n``, the incidents that belong to it."""
    with store.session() as s:
        for inc_row in opened:
            if inc_row["fault"] != n:
                continue
            inc = get_incident(s, inc_row["key"])
            if inc.state not in (IncidentState.RESOLVED, IncidentState.CLOSED):
                resolve(s, inc, "soak-operator", comment=f"fixed the fault at {root}", at=at)
                print(f"  {at:%a %H:%M} resolved {inc_row['key']} (fault at {root} fixed)")


def soak(days: int, seed: int, store_url: str) -> dict[str, Any]:
    """Run the soak and return its figures (see the module docstring)."""
    end = DEMO_END
    base_cfg = demo_config()
    scenario = soak_scenario(days, seed, end)
    t0 = time.perf_counter()
    # a day more than the first run's reference reaches back: the simulator's first hours warm up its feeds
    history = timedelta(days=days + 1) + base_cfg.window.baseline
    world = simulate_scenario(scenario, seed=seed, end=end, history=history)
    simulate_s = time.perf_counter() - t0

    register("soak-world")(lambda spec, config: WorldSource(spec.name, world.data))
    sources = [
        SourceConfig(name=s.name, kind="soak-world") if s.kind == "demo" else s for s in base_cfg.sources
    ]
    cfg: SystemConfig = base_cfg.model_copy(
        update={"sources": sources, "system": base_cfg.system.model_copy(update={"name": "fraud-scoring/soak"})}
    )
    store = Store(store_url)
    hours = [end - timedelta(days=days) + timedelta(hours=h + 1) for h in range(days * 24)]
    investigations: dict[str, dict[str, Any]] = {}
    opened: list[dict[str, Any]] = []
    faults = list(world.truth.faults)
    fixed: set[int] = set()
    held_back: Counter[str] = Counter()
    errors: list[str] = []
    rss_per_day: list[float] = []
    run_s: list[float] = []
    print(
        f"soak: {len(scenario.parts)} faults over {days} days ({len(hours)} hourly runs), "
        f"world built in {simulate_s:.1f} s"
    )
    for f in world.truth.faults:
        print(
            f"  fault {f.onset:%a %H:%M}-{f.until:%H:%M}: {f.root_cause_component} "
            f"({', '.join(map(str, f.incident_types))})"
        )
    for i, at in enumerate(hours, 1):
        t1 = time.perf_counter()
        try:
            run = detect_and_open(store, cfg, at, actor="soak")
        except Exception as exc:  # a failing hour is a finding of the soak, not the end of it
            errors.append(f"{at:%Y-%m-%d %H:%M}: {type(exc).__name__}: {exc}")
            continue
        finally:
            run_s.append(time.perf_counter() - t1)
        for o in run.outcome.incidents:
            if o.created:
                inv = investigations[o.key] = _investigate(store, cfg, o.key)
                row = {**o.model_dump(), "at": at.isoformat()}
                n_fault = owner(row, inv, faults)
                opened.append({**row, "fault": n_fault})
                print(
                    f"  {at:%a %H:%M} opened {o.key}: {o.type} on {', '.join(o.components)}; top cause {inv['top']}"
                    f" -> {'no fault' if n_fault is None else faults[n_fault].root_cause_component}"
                )
        held_back.update(f"{c.reason}: {c.type}" for c in run.outcome.suppressed)
        for n, f in enumerate(faults):
            if n not in fixed and f.until is not None and at >= f.until + RESOLVE_AFTER:
                fixed.add(n)
                _resolve_fault(store, n, opened, at, f.root_cause_component)
        if i % 24 == 0:
            gc.collect()
            rss_per_day.append(rss_mib())
            print(f"  day {i // 24}: {sum(run_s[-24:]) / 24:.2f} s per run, RSS {rss_per_day[-1]:.0f} MiB", flush=True)

    with store.session() as s:
        stored = s.scalar(select(func.count()).select_from(Incident)) or 0
    store.dispose()
    per_fault = [[i["key"] for i in opened if i["fault"] == n] for n in range(len(faults))]
    unowned = [i for i in opened if i["fault"] is None]
    distractors = set(world.truth.distractors)
    on_distractors = [i["key"] for i in unowned if distractors and set(i["components"]) <= distractors]
    extra = [i["key"] for i in unowned if i["key"] not in on_distractors]
    found = sum(len(k) == 1 for k in per_fault)
    duplicated = sum(max(len(k) - 1, 0) for k in per_fault)
    missed = sum(not k for k in per_fault)
    opened_keys = [i["key"] for i in opened]
    growth = rss_per_day[-1] - rss_per_day[0] if len(rss_per_day) > 1 else 0.0
    checks = {
        "one incident per fault": found == len(faults),
        "no incident lost": stored == len(set(opened_keys)) == len(opened_keys),
        "no extra incident": not extra,
        "no failed hour": not errors,
        "memory flat": growth <= RSS_SLACK_MIB,
    }
    return {
        "days": days,
        "seed": seed,
        "hours": len(hours),
        "faults_expected": len(faults),
        "faults_with_one_incident": found,
        "duplicated": duplicated,
        "missed": missed,
        "incidents_opened": len(opened_keys),
        "incidents_stored": stored,
        "extra_incidents": extra,
        "distractor_incidents": on_distractors,
        "faults": [
            {
                "root_cause": f.root_cause_component,
                "types": [str(t) for t in f.incident_types],
                "onset": f.onset,
                "until": f.until,
                "incidents": keys,
            }
            for f, keys in zip(faults, per_fault, strict=True)
        ],
        "held_back_runs": dict(sorted(held_back.items())),
        "opened": [{k: i[k] for k in ("key", "at", "type", "components", "fault")} for i in opened],
        "errors": errors,
        "seconds_per_run": round(sum(run_s) / len(run_s), 3),
        "simulate_seconds": round(simulate_s, 1),
        "rss_mib_per_day": [round(x) for x in rss_per_day],
        "rss_growth_mib": round(growth, 1),
        "checks": checks,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the soak, print and write its figures; 1 when a check failed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=7, help="days of hourly detection replayed (default 7)")
    ap.add_argument("--seed", type=int, default=11, help="seed of the fault order, onsets and the world")
    ap.add_argument("--store", help="incident store URL (default: a SQLite file in a temporary directory)")
    ap.add_argument("--json", type=Path, default=BENCH / "results" / "soak.json", help="where to write the figures")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        res = soak(a.days, a.seed, a.store or f"sqlite:///{tmp}/soak.db")
    print(
        f"\n{res['hours']} hourly runs ({res['seconds_per_run']} s each): faults {res['faults_expected']}, "
        f"with exactly one incident {res['faults_with_one_incident']}, duplicated {res['duplicated']}, "
        f"missed {res['missed']}, extra {len(res['extra_incidents'])}, "
        f"on distractors {len(res['distractor_incidents'])}; "
        f"opened {res['incidents_opened']}, stored {res['incidents_stored']}; RSS per day {res['rss_mib_per_day']} MiB"
    )
    for name, ok in res["checks"].items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    for e in res["errors"]:
        print(f"  error {e}")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0 if all(res["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
