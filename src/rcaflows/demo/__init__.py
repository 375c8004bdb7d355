"""The bundled demo: a seeded simulator of a fraud-scoring system and its fault scenarios."""

from __future__ import annotations

from rcaflows.demo.scenarios import SCENARIOS, ChangeSpec, FaultTruth, MetricEffect, Part, Scenario, Truth
from rcaflows.demo.simulator import DEMO_END, SimulatedWorld, simulate

__all__ = [
    "DEMO_END",
    "SCENARIOS",
    "ChangeSpec",
    "FaultTruth",
    "MetricEffect",
    "Part",
    "Scenario",
    "SimulatedWorld",
    "Truth",
    "simulate",
]
