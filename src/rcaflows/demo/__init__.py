"""The bundled demo: a seeded simulator of a fraud-scoring system and its fault scenarios."""

from __future__ import annotations

from rcaflows.demo.config import DEFAULT_SCENARIO, bundled_config_path, demo_config, write_demo_config
from rcaflows.demo.scenarios import SCENARIOS, ChangeSpec, FaultTruth, MetricEffect, Part, Scenario, Truth
from rcaflows.demo.simulator import DEMO_END, SimulatedWorld, simulate, simulate_scenario

__all__ = [
    "DEFAULT_SCENARIO",
    "DEMO_END",
    "SCENARIOS",
    "ChangeSpec",
    "FaultTruth",
    "MetricEffect",
    "Part",
    "Scenario",
    "SimulatedWorld",
    "Truth",
    "bundled_config_path",
    "demo_config",
    "simulate",
    "simulate_scenario",
    "write_demo_config",
]
