"""The built-in RCA phases, one implementation per module, and their registry entries.

A new phase is one module against :class:`rcaflows.rca.registry.Phase` plus one entry in
:data:`BUILT_IN` (or a ``register_phase`` call of its own, for a phase shipped elsewhere). The
order of :data:`BUILT_IN` is the order results and reports list the phases.
"""

from __future__ import annotations

from rcaflows.rca.phases.component import ComponentPhase
from rcaflows.rca.phases.environmental import EnvironmentalPhase
from rcaflows.rca.phases.lineage import LineagePhase
from rcaflows.rca.phases.model_behaviour import ModelBehaviourPhase
from rcaflows.rca.phases.statistical import StatisticalPhase
from rcaflows.rca.registry import register_phase

#: The built-in phases, registered in this order.
BUILT_IN = (StatisticalPhase, ComponentPhase, LineagePhase, ModelBehaviourPhase, EnvironmentalPhase)
for _phase in BUILT_IN:
    register_phase(_phase)

__all__ = [
    "BUILT_IN",
    "ComponentPhase",
    "EnvironmentalPhase",
    "LineagePhase",
    "ModelBehaviourPhase",
    "StatisticalPhase",
]
