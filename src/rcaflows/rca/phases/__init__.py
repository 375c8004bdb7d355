"""The five RCA phases, one implementation per module."""

from __future__ import annotations

from rcaflows.rca.phases.component import ComponentPhase
from rcaflows.rca.phases.environmental import EnvironmentalPhase
from rcaflows.rca.phases.lineage import LineagePhase
from rcaflows.rca.phases.model_behaviour import ModelBehaviourPhase
from rcaflows.rca.phases.statistical import StatisticalPhase

__all__ = ["ComponentPhase", "EnvironmentalPhase", "LineagePhase", "ModelBehaviourPhase", "StatisticalPhase"]
