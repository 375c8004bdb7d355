"""The reaper: RCA runs that died or overran are marked failed, audited and re-queued per policy.

An RCA run killed mid-way (``kill -9``, an OOM kill, a lost node) never records its end, so its
row would say ``running`` forever and its incident ``investigating`` without a report. The reaper,
called at the start of every detection run and by ``rcaflows db reap``, fails every ``running``
run of the system that

* is older than ``rca.runs.time_limit``;
* ran in a process of this host that is gone (the RCA flow records host, pid and the process's
  start time when it opens its run, so a recycled pid does not count as alive); or
* whose Prefect flow run is in a final state (crashed, cancelled, failed, completed) while the row
  still says ``running``, when the caller can ask Prefect (``flow_states``).

Each reaped run gets ``status=failed``, its reason in ``results['reaped']`` and an ``rca_failed``
audit event; its incident, if still ``investigating`` with no other live run, is moved back to
``triaged`` with the ``abandon`` transition. The incident is **re-queued** when it has had fewer
than ``rca.runs.max_attempts`` RCA runs: :func:`queued_rca` then lists it until a new run starts
(the detection flow starts one at once).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rcaflows.config.models import SystemConfig
from rcaflows.errors import RcaflowsError, TransitionError
from rcaflows.incidents.db import Store
from rcaflows.incidents.lifecycle import Action
from rcaflows.incidents.models import EventKind, Incident, RcaRun, RcaStatus, incident_key
from rcaflows.incidents.service import finish_rca_run, get_incident, record_event, transition
from rcaflows.timeutil import human_duration as dur
from rcaflows.timeutil import now_utc, utc
from rcaflows.vocab import OPEN_STATES, IncidentState

__all__ = [
    "FINAL_FLOW_STATES",
    "RcaTimeLimitError",
    "ReapResult",
    "ReapedRun",
    "describe_reaped",
    "fail_run",
    "queued_rca",
    "reap",
    "runner_info",
    "uninvestigated",
]

#: Prefect state types after which a flow run will never record its RCA run.
FINAL_FLOW_STATES = frozenset({"CRASHED", "CANCELLED", "FAILED", "COMPLETED"})

#: Ask the orchestrator for the state type of flow runs by id (absent: unknown).
FlowStates = Callable[[list[str]], dict[str, str]]


class RcaTimeLimitError(RcaflowsError):
    """An RCA run went past ``rca.runs.time_limit``; it fails as the reaper would fail it, and is re-queued."""


@dataclass(frozen=True)
class ReapedRun:
    """One RCA run the reaper failed, and what became of its incident."""

    run_id: int
    incident: str | None
    reason: str
    detail: str
    attempt: int
    requeued: bool
    state: str | None = None


@dataclass(frozen=True)
class ReapResult:
    """What one reaper pass did: the runs it failed and the incidents waiting for a re-queued RCA."""

    reaped: list[ReapedRun] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)


def _start_ticks(pid: int) -> str | None:
    """Return the process's start time in clock ticks since boot (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name; the state is the 1st, the start time the 20th.
    rest = stat.rsplit(")", 1)[-1].split()
    if len(rest) < 20 or rest[0] in ("Z", "X"):  # a zombie is dead, whatever its parent does
        return None
    return rest[19]


def runner_info() -> dict[str, Any]:
    """Return who runs the current process: host, pid and the process's start time (to tell a recycled pid)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _start_ticks(pid)}


def _process_gone(runner: Any) -> str | None:
    """Return why the recorded process is gone (on this host), or None when it lives or lives elsewhere."""
    if not isinstance(runner, dict) or runner.get("host") != socket.gethostname():
        return None
    pid = runner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} on {runner['host']} is gone"
    except PermissionError:
        pass  # it exists, under another user
    recorded = runner.get("start")
    now = _start_ticks(pid)
    if recorded is not None and now != recorded:
        return f"process {pid} on {runner['host']} is gone (the pid now belongs to another process)"
    return None


def _why_dead(run: RcaRun, now: datetime, limit: timedelta, flow_states: dict[str, str]) -> tuple[str, str] | None:
    """Return (reason, detail) when ``run`` can no longer finish by itself, else None."""
    state = flow_states.get(run.flow_run_id or "")
    if state is not None and state.upper() in FINAL_FLOW_STATES:
        return "flow_run_" + state.lower(), f"its Prefect flow run {run.flow_run_id} is {state.lower()}"
    gone = _process_gone((run.parameters or {}).get("runner"))
    if gone is not None:
        return "process_gone", gone
    age = now - utc(run.started_at)
    if age > limit:
        return "time_limit", f"still running after {dur(age)}, over the time limit of {dur(limit)}"
    return None


def _running(store: Store, system: str | None) -> list[RcaRun]:
    stmt = sa.select(RcaRun).where(RcaRun.status == RcaStatus.RUNNING)
    if system is not None:
        # Ad-hoc runs (no incident) carry no system: any reaper may fail them.
        stmt = stmt.outerjoin(Incident, RcaRun.incident_id == Incident.id).where(
            sa.or_(Incident.system == system, RcaRun.incident_id.is_(None))
        )
    with store.session(readonly=True) as s:
        runs = list(s.scalars(stmt.order_by(RcaRun.id)))
        s.expunge_all()
    return runs


def reap(
    store: Store,
    config: SystemConfig,
    *,
    actor: str = "reaper",
    now: datetime | None = None,
    flow_states: FlowStates | None = None,
) -> ReapResult:
    """Fail the system's RCA runs that died or overran; move their incidents back and re-queue per policy.

    Args:
        store: the incident store.
        config: the system; its ``rca.runs`` gives the time limit and the attempts.
        actor: who reaps, in the audit log (``detection``, ``user:alice``).
        now: the time to measure run ages at (default: now).
        flow_states: asks Prefect for the state type of flow run ids (the flows pass one).

    Returns:
        The runs failed, and every incident of the system waiting for a re-queued RCA.
    """
    policy = config.rca.runs
    at = utc(now) if now is not None else now_utc()
    running = _running(store, config.system.name)
    ids = sorted({r.flow_run_id for r in running if r.flow_run_id})
    states = flow_states(ids) if flow_states is not None and ids else {}
    reaped: list[ReapedRun] = []
    for run in running:
        why = _why_dead(run, at, policy.time_limit, states)
        if why is None:
            continue
        done = fail_run(store, run.id, why, policy.max_attempts, actor)
        if done is not None:
            reaped.append(done)
    return ReapResult(reaped=reaped, queued=queued_rca(store, config.system.name))


def fail_run(store: Store, run_id: int, why: tuple[str, str], max_attempts: int, actor: str) -> ReapedRun | None:
    """Fail one running RCA run as the reaper does, in its own transaction; re-queue its incident per policy.

    Args:
        store: the incident store.
        run_id: the RCA run.
        why: (reason, detail), e.g. ``("time_limit", "still running after 31m, ...")``.
        max_attempts: ``rca.runs.max_attempts``.
        actor: who fails it, in the audit log.

    Returns:
        What was done, or None when the run had finished meanwhile (another reaper, or itself).
    """
    reason, detail = why
    with store.session() as s:
        run = s.get(RcaRun, run_id, with_for_update=True)
        if run is None or run.status is not RcaStatus.RUNNING:
            return None
        inc = s.get(Incident, run.incident_id) if run.incident_id is not None else None
        attempt = 1
        if inc is not None:
            attempt = int(s.scalar(sa.select(sa.func.count()).where(RcaRun.incident_id == inc.id)) or 1)
        requeue = inc is not None and inc.state in OPEN_STATES and attempt < max_attempts
        info = {
            "reason": reason,
            "detail": detail,
            "by": actor,
            "at": now_utc().isoformat(),
            "attempt": attempt,
            "max_attempts": max_attempts,
            "requeued": requeue,
        }
        try:
            finish_rca_run(s, run.id, status=RcaStatus.FAILED, results={"error": detail, "reaped": info}, actor=actor)
        except TransitionError:
            return None
        if inc is None:
            return ReapedRun(run.id, None, reason, detail, attempt, False)
        record_event(s, inc, EventKind.RCA_FAILED, actor, {"rca_run_id": run.id, "error": detail, **info})
        live = s.scalar(
            sa.select(sa.func.count()).where(
                RcaRun.incident_id == inc.id, RcaRun.status == RcaStatus.RUNNING, RcaRun.id != run.id
            )
        )
        if inc.state is IncidentState.INVESTIGATING and not live:
            # Short: the rca_failed event above carries the detail and the re-queue decision.
            inc = transition(s, inc, Action.ABANDON, actor, rca_run_id=run.id, reason=reason)
        return ReapedRun(run.id, inc.key, reason, detail, attempt, requeue, inc.state.value)


def queued_rca(store: Store, system: str) -> list[str]:
    """Return the open incidents of ``system`` whose latest RCA run was reaped and re-queued, oldest first."""
    latest = (
        sa.select(RcaRun.incident_id, sa.func.max(RcaRun.id).label("run_id"))
        .where(RcaRun.incident_id.is_not(None))
        .group_by(RcaRun.incident_id)
        .subquery()
    )
    stmt = (
        sa.select(Incident.id, RcaRun.results)
        .join(latest, latest.c.incident_id == Incident.id)
        .join(RcaRun, RcaRun.id == latest.c.run_id)
        .where(
            Incident.system == system,
            Incident.state.in_(sorted(OPEN_STATES)),
            RcaRun.status == RcaStatus.FAILED,
        )
        .order_by(Incident.id)
    )
    with store.session(readonly=True) as s:
        rows = list(s.execute(stmt))
    return [incident_key(i) for i, results in rows if ((results or {}).get("reaped") or {}).get("requeued")]


def describe_reaped(results: dict[str, Any] | None) -> str | None:
    """Return one line on a reaped run for ``incidents show`` (None for a run that ended by itself)."""
    info = (results or {}).get("reaped")
    if not isinstance(info, dict):
        return None
    tail = (
        f"re-queued (attempt {int(info.get('attempt', 1)) + 1} of {info.get('max_attempts')})"
        if info.get("requeued")
        else f"not re-queued ({info.get('attempt')} of {info.get('max_attempts')} attempts used)"
    )
    return f"failed by the reaper ({info.get('by')}, {info.get('at', '')[:19]}): {info.get('detail')}; {tail}"


def uninvestigated(store: Store, keys: list[str]) -> list[str]:
    """Return those of ``keys`` that are open and never had an RCA run (a run lost before it started).

    A detection run killed after it stored an incident but before its RCA started leaves such an
    incident; the next detection run sees it again (deduplicated) and starts the RCA it missed.
    """
    if not keys:
        return []
    out = []
    with store.session(readonly=True) as s:
        for key in keys:
            inc = get_incident(s, key)
            has_run = s.scalar(sa.select(RcaRun.id).where(RcaRun.incident_id == inc.id).limit(1))
            if inc.is_open and has_run is None:
                out.append(inc.key)
    return out
