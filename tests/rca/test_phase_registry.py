"""The RCA phase registry: phases by name, their own settings from ``rca.phases``, weights, stored results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, empty_changes
from rcaflows.errors import ConfigError
from rcaflows.rca import (
    PHASES,
    Finding,
    PhaseName,
    PhaseResult,
    PhaseSettings,
    PhaseStatus,
    RcaContext,
    RcaResult,
    Symptom,
    enabled_phases,
    load_rules,
    phase_settings,
    register_phase,
    run_phase,
    run_rca,
    synthesize,
)
from rcaflows.rca.phases import BUILT_IN
from rcaflows.rca.phases.statistical import StatisticalSettings
from rcaflows.rca.registry import phase_weights

END = pd.Timestamp("2026-03-02T12:00:00Z")
START = END - pd.Timedelta(hours=6)
ONSET = END - pd.Timedelta(minutes=45)
CFG = load_config(demo_config_path())
KNOWN = "component, environmental, lineage, model_behaviour, statistical"


def with_phases(phases: dict[str, dict[str, Any]], config: SystemConfig = CFG) -> SystemConfig:
    """Return ``config`` with ``rca.phases`` set, as a YAML file would give it."""
    raw = config.model_dump(mode="json", by_alias=True)
    raw["rca"]["phases"] = phases
    return SystemConfig.model_validate(raw)


def context(config: SystemConfig = CFG, shifted: int = 1, changes: pd.DataFrame | None = None) -> RcaContext:
    """A 6-hour window of every declared metric; the first ``shifted`` series off scoring_api rise x1.8 at ONSET."""
    rng = np.random.default_rng(3)
    ts = pd.date_range(START, END - pd.Timedelta(minutes=1), freq="1min")
    frames = []
    hit = [m for m in config.metrics if m.component != "scoring_api"][:shifted]
    for spec in config.metrics:
        v = 50 * (1 + 0.02 * rng.normal(size=len(ts)))
        if spec in hit or (spec.component, spec.name) == ("scoring_api", "latency_p95_ms"):
            v = np.where(ts >= ONSET, v * 1.8, v)
        frames.append(pd.DataFrame({"timestamp": ts, "component": spec.component, "metric": spec.name, "value": v}))
    data = MonitoringData(
        start=START.to_pydatetime(),
        end=END.to_pydatetime(),
        metrics=pd.concat(frames, ignore_index=True),
        changes=changes if changes is not None else empty_changes(),
    )
    symptom = Symptom(
        component="scoring_api",
        metric="latency_p95_ms",
        incident_type="performance_availability",
        detected_at=END.to_pydatetime(),
    )
    return RcaContext.build(config, data, symptom)


# ----- a phase that is not built in: one class against the contract, one registry entry ----------


class ChangeLogSettings(PhaseSettings):
    """Settings of the test's change-log phase."""

    kinds: list[str] = Field(default_factory=lambda: ["deploy"], description="Change kinds that count.")
    score: float = Field(0.8, ge=0, le=1, description="Score of a finding.")


class ChangeLogPhase:
    """Every change of a counted kind is a finding on its component (a deliberately small phase)."""

    name = "change_log"
    settings_model = ChangeLogSettings

    def run(self, ctx: RcaContext) -> PhaseResult:
        settings = phase_settings(ctx.config, self)
        assert isinstance(settings, ChangeLogSettings)
        ch = ctx.data.changes
        rows = ch[ch["kind"].isin(settings.kinds)] if not ch.empty else ch
        findings = [
            Finding(
                phase=self.name,
                component=str(r.component),
                kind="logged_change",
                score=settings.score,
                onset=r.timestamp,
                evidence=[f"{r.component}: {r.description}"],
            )
            for r in rows.itertuples()
        ]
        summary = f"{len(findings)} changes"
        return PhaseResult(phase=self.name, status=PhaseStatus.OK, findings=findings, summary=summary)


@pytest.fixture
def change_log() -> Iterator[ChangeLogPhase]:
    """Register the change-log phase for one test, and take it out again."""
    register_phase(ChangeLogPhase)
    try:
        yield PHASES["change_log"]  # type: ignore[misc]
    finally:
        PHASES.pop("change_log", None)


def deploy_on(component: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": [ONSET - pd.Timedelta(minutes=3)],
            "component": [component],
            "kind": ["deploy"],
            "description": ["v2 rolled out"],
        }
    )


# ----- the registry ------------------------------------------------------------------------------


def test_built_in_phases_are_registered_by_name_in_report_order() -> None:
    assert list(PHASES)[:5] == ["statistical", "component", "lineage", "model_behaviour", "environmental"]
    assert [p.name for p in BUILT_IN] == list(PHASES)[:5]
    assert {str(n) for n in PhaseName} <= set(PHASES)
    assert all(isinstance(k, str) and type(k) is str for k in PHASES)


@pytest.mark.parametrize("name", list(PHASES))
def test_every_registered_phase_has_valid_default_settings_and_runs(name: str) -> None:
    phase = PHASES[name]
    settings = phase_settings(CFG, phase)
    assert isinstance(settings, PhaseSettings) and settings.enabled and settings.weight is None
    res = run_phase(name, context(changes=deploy_on("feature_db")))
    assert res.phase == name and res.status in (PhaseStatus.OK, PhaseStatus.SKIPPED), res.error
    assert all(f.phase == name for f in res.findings)


def test_a_new_phase_runs_with_its_own_settings_and_counts_in_the_synthesis(change_log: ChangeLogPhase) -> None:
    ctx = context(changes=deploy_on("feature_db"))
    result = run_rca(ctx)
    assert [p.phase for p in result.phases] == [*list(PHASES)[:5], "change_log"]
    (mine,) = [p for p in result.phases if p.phase == "change_log"]
    assert [f.component for f in mine.findings] == ["feature_db"]
    top = next(h for h in result.hypotheses if h.component == "feature_db")
    assert "change_log" in top.phases and top.phases[-1] == "change_log"  # listed in registry order
    # Its own setting, from the config: deploys no longer count, so the phase finds nothing.
    quiet = run_phase(change_log, context(with_phases({"change_log": {"kinds": ["infra"]}}), changes=deploy_on("x")))
    assert quiet.status == PhaseStatus.OK and quiet.findings == []
    with pytest.raises(ConfigError, match=r"rca\.phases\.change_log\.score: .*ChangeLogSettings"):
        phase_settings(with_phases({"change_log": {"score": 3}}), change_log)


def test_a_disabled_phase_is_not_run() -> None:
    cfg = with_phases({"lineage": {"enabled": False}, "environmental": {"enabled": False}})
    assert list(enabled_phases(cfg)) == ["statistical", "component", "model_behaviour"]
    result = run_rca(context(cfg))
    assert [p.phase for p in result.phases] == ["statistical", "component", "model_behaviour"]


def test_an_unknown_phase_in_the_config_names_the_field_and_the_known_phases() -> None:
    cfg = with_phases({"lineage_v2": {"weight": 2.0}})
    message = f"rca.phases.lineage_v2: no RCA phase is registered as 'lineage_v2'; registered phases: {KNOWN}"
    with pytest.raises(ConfigError) as err:
        run_rca(context(cfg))
    assert str(err.value) == message
    with pytest.raises(ConfigError, match=r"rca\.phases\.lineage_v2"):
        synthesize(context(cfg), [])


def test_invalid_phase_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"rca\.phases\.statistical\.max_findings: .*StatisticalSettings"):
        enabled_phases(with_phases({"statistical": {"max_findings": 0}}))
    with pytest.raises(
        ConfigError,
        match=r"rca\.phases\.lineage\.enable: unknown setting; PhaseSettings has enabled, weight "
        r"\(settings of RCA phase 'lineage'",
    ):
        enabled_phases(with_phases({"lineage": {"enable": False}}))


def test_weights_come_from_the_config_else_rules_yaml_else_one(change_log: ChangeLogPhase) -> None:
    defaults = load_rules()["phase_weights"]
    weights = phase_weights(CFG, defaults)
    assert weights == {**{k: float(v) for k, v in defaults.items()}, "change_log": 1.0}
    assert phase_weights(with_phases({"statistical": {"weight": 0.2}}), defaults)["statistical"] == 0.2
    with pytest.raises(ConfigError, match=f"rules.yaml phase_weights.nope: .*registered phases: .*{KNOWN[:9]}"):
        phase_weights(CFG, {**defaults, "nope": 1.0})

    one = PhaseResult(
        phase="change_log",
        status=PhaseStatus.OK,
        findings=[Finding(phase="change_log", component="feature_db", kind="logged_change", score=0.5, evidence=["x"])],
    )
    base = synthesize(context(), [one]).hypotheses[0].score
    doubled = synthesize(context(with_phases({"change_log": {"weight": 2.0}})), [one]).hypotheses[0].score
    assert doubled == pytest.approx(2 * base) and base > 0


def test_statistical_phase_honours_its_own_settings() -> None:
    ctx = context(shifted=4)
    full = run_phase("statistical", ctx)
    shifts = [f for f in full.findings if f.kind == "metric_shift"]
    assert len(shifts) >= 3
    capped = run_phase("statistical", context(with_phases({"statistical": {"max_findings": 2}}), shifted=4))
    assert [f.metric for f in capped.findings if f.kind == "metric_shift"] == [f.metric for f in shifts[:2]]
    assert StatisticalSettings().max_findings == 40 and StatisticalSettings().max_lag == 15


def test_register_phase_rejects_what_is_not_a_phase() -> None:
    class NoRun:
        name = "no_run"

    class BadName:
        name = "Bad Name"

        def run(self, ctx: RcaContext) -> PhaseResult:
            raise NotImplementedError

    class BadSettings(BadName):
        name = "bad_settings"
        settings_model = dict

    class OtherLineage(BadName):
        name = "lineage"

    with pytest.raises(TypeError, match="does not implement the Phase protocol"):
        register_phase(NoRun)
    with pytest.raises(TypeError, match="must match"):
        register_phase(BadName)
    with pytest.raises(TypeError, match="settings_model must subclass PhaseSettings"):
        register_phase(BadSettings)
    with pytest.raises(TypeError, match="already registered by LineagePhase"):
        register_phase(OtherLineage)
    assert list(PHASES) == list(PHASES)[:5] and "bad_settings" not in PHASES
    with pytest.raises(KeyError, match=f"no RCA phase is registered as 'nope'; registered phases: {KNOWN}"):
        run_phase("nope", context())


def test_stored_results_load_whatever_their_phase_names() -> None:
    """Stored JSON holds the phase name as a string: old results, and those of a phase since removed, load."""
    stored = {
        "symptom": {
            "component": "scoring_api",
            "metric": "latency_p95_ms",
            "incident_type": "performance_availability",
            "detected_at": "2026-03-02T12:00:00Z",
        },
        "phases": [
            {"phase": "lineage", "status": "ok", "findings": [], "seconds": 0.5},
            {
                "phase": "retired_phase",
                "status": "ok",
                "findings": [
                    {"phase": "retired_phase", "component": "feature_db", "kind": "old", "score": 0.4, "evidence": []}
                ],
            },
        ],
        "hypotheses": [
            {
                "rank": 1,
                "component": "feature_db",
                "kind": "old",
                "score": 0.4,
                "confidence": 0.3,
                "status": "weak",
                "phases": ["retired_phase", "statistical"],
            }
        ],
        "window_start": "2026-03-02T06:00:00Z",
        "window_end": "2026-03-02T12:00:00Z",
    }
    result = RcaResult.model_validate(stored)
    assert [p.phase for p in result.phases] == ["lineage", "retired_phase"]
    assert result.phases[1].findings[0].phase == "retired_phase"
    assert result.hypotheses[0].phases == ["retired_phase", "statistical"]
    again = RcaResult.model_validate_json(result.model_dump_json())
    assert again == result and again.model_dump(mode="json")["phases"][0]["phase"] == "lineage"
    # A fresh run dumps plain names too.
    fresh = run_rca(context()).model_dump(mode="json")
    assert [p["phase"] for p in fresh["phases"]] == list(PHASES)[:5]


def test_a_phase_registered_late_fails_alone_in_run_rca(change_log: ChangeLogPhase) -> None:
    """A phase that raises becomes a failed result; synthesis still ranks from the others."""

    def broken(ctx: RcaContext) -> PhaseResult:
        raise RuntimeError("change log unreachable")

    original = change_log.run
    change_log.run = broken  # type: ignore[method-assign]
    try:
        result = run_rca(context(changes=deploy_on("feature_db")))
    finally:
        change_log.run = original  # type: ignore[method-assign]
    (failed,) = [p for p in result.phases if p.status == PhaseStatus.FAILED]
    assert failed.phase == "change_log" and failed.error == "RuntimeError: change log unreachable"
    assert result.hypotheses and any("change_log" in s for s in result.next_steps)
