"""Sequential runners of the registered RCA phases.

The contract and the registry live in :mod:`rcaflows.rca.registry`; importing this module
registers the built-in phases (:mod:`rcaflows.rca.phases`). :func:`run_phase` never
raises: a failing phase becomes a ``failed`` :class:`PhaseResult`. The Prefect flow runs the
enabled phases as concurrent tasks and calls :func:`synthesize` itself; :func:`run_rca` does the
same sequentially in-process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import rcaflows.rca.phases  # noqa: F401  (registers the built-in phases)
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import PhaseResult, PhaseStatus, RcaResult
from rcaflows.rca.registry import Phase, enabled_phases, get_phase
from rcaflows.rca.synthesis import synthesize

__all__ = ["Phase", "run_phase", "run_rca"]


def run_phase(phase: Phase | str, ctx: RcaContext) -> PhaseResult:
    """Run one phase (or the phase registered under a name); wrap any exception into a failed result.

    Raises:
        KeyError: when ``phase`` is a name no phase is registered under.
    """
    impl = phase if isinstance(phase, Phase) else get_phase(phase)
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


def run_rca(ctx: RcaContext, phases: Iterable[Phase | str] | None = None) -> RcaResult:
    """Run ``phases`` (the enabled registered ones by default) one after another, then synthesize.

    Raises:
        ConfigError: when ``rca.phases`` of the context's config names an unknown phase or
            holds invalid settings.
    """
    chosen = list(enabled_phases(ctx.config).values()) if phases is None else list(phases)
    return synthesize(ctx, [run_phase(p, ctx) for p in chosen])
