"""The bundled demo: a seeded simulator of a fraud-scoring system and its fault scenarios."""

from __future__ import annotations

from rcaflows.demo.scenarios import SCENARIOS, ChangeSpec, MetricEffect, Scenario, Truth
from rcaflows.demo.simulator import DEMO_END, SimulatedWorld, simulate

__all__ = [
    "DEMO_END",
    "SCENARIOS",
    "ChangeSpec",
    "MetricEffect",
    "Scenario",
    "SimulatedWorld",
    "Truth",
    "simulate",
]
