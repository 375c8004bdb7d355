"""The RCA phase contract, the registry of phases, and sequential runners.

Each phase implements :class:`Phase` in its own module under ``rcaflows.rca.phases``.
:func:`run_phase` never raises: a failing phase becomes a ``failed`` :class:`PhaseResult`.
The Prefect flow runs the phases as concurrent tasks and calls :func:`synthesize` itself;
:func:`run_rca` does the same sequentially in-process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import PhaseName, PhaseResult, PhaseStatus, RcaResult
from rcaflows.rca.phases.component import ComponentPhase
from rcaflows.rca.phases.environmental import EnvironmentalPhase
from rcaflows.rca.phases.lineage import LineagePhase
from rcaflows.rca.phases.model_behaviour import ModelBehaviourPhase
from rcaflows.rca.phases.statistical import StatisticalPhase
from rcaflows.rca.synthesis import synthesize


@runtime_checkable
class Phase(Protocol):
    """One RCA phase: a name and a pure function of the context."""

    name: PhaseName

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return the phase's findings for ``ctx``."""
        ...


PHASES: dict[PhaseName, Phase] = {
    p.name: p
    for p in (
        StatisticalPhase(),
        ComponentPhase(),
        LineagePhase(),
        ModelBehaviourPhase(),
        EnvironmentalPhase(),
    )
}


def run_phase(phase: Phase | PhaseName | str, ctx: RcaContext) -> PhaseResult:
    """Run one phase; wrap any exception into a failed result and record the wall time."""
    impl = phase if isinstance(phase, Phase) else PHASES[PhaseName(phase)]
    t0 = time.perf_counter()
    try:
        result = impl.run(ctx)
    except Exception as exc:
        return PhaseResult(
            phase=impl.name,
            status=PhaseStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - t0,
        )
    return result.model_copy(update={"seconds": time.perf_counter() - t0})


def run_rca(ctx: RcaContext, phases: Iterable[Phase | PhaseName | str] | None = None) -> RcaResult:
    """Run ``phases`` (all registered ones by default) one after another, then synthesize."""
    chosen = list(PHASES.values()) if phases is None else list(phases)
    return synthesize(ctx, [run_phase(p, ctx) for p in chosen])
