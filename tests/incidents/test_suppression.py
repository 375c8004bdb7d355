"""Silences, check history and the candidate decisions that use them (silence, inhibition, dedup, pending)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rcaflows.config import load_config
from rcaflows.config.models import SystemConfig
from rcaflows.detection import CheckResult, IncidentCandidate
from rcaflows.errors import NotFoundError, StoreError
from rcaflows.incidents import (
    EventKind,
    Store,
    add_silence,
    events,
    expire_silence,
    failure_history,
    fingerprint_for,
    get_incident,
    idle_silences,
    list_silences,
    match_silence,
    record_run,
    silence_dict,
)
from rcaflows.triage.service import handle_candidates
from rcaflows.vocab import CheckStatus, IncidentType

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
DQ, QD, PERF = IncidentType.DATA_QUALITY, IncidentType.QUALITY_DEGRADATION, IncidentType.PERFORMANCE_AVAILABILITY


@pytest.fixture(scope="module")
def config() -> SystemConfig:
    return load_config()


def _cand(itype: IncidentType, component: str, subtype: str, components: list[str] | None = None) -> IncidentCandidate:
    comps = components or [component]
    check = CheckResult(
        detector="t",
        check="c",
        incident_type=itype,
        subtype=subtype,
        component=component,
        metric="m",
        status=CheckStatus.FAIL,
        score=0.9,
    )
    return IncidentCandidate(
        incident_type=itype,
        subtype=subtype,
        component=component,
        metric="m",
        title=f"{subtype} on {component}",
        score=0.9,
        checks=[check],
        components=comps,
        fingerprint=f"s:{itype}:{component}:{subtype}",
    )


def _match(s: object, at: datetime, **kw: str) -> object:
    args = {"system": "fraud", "incident_type": "data_quality", "component": "etl", "fingerprint": "abc"} | kw
    return match_silence(s, at=at, **args)  # type: ignore[arg-type]


def test_silence_matches_patterns_within_its_span_and_counts_matches(store: Store) -> None:
    with store.session() as s:
        sil = add_silence(s, author="user:ana", reason="etl migration", component="et*", starts_at=T0, duration=2 * H)
        sid = sil.id
    with store.session() as s:
        assert _match(s, T0 - timedelta(minutes=1)) is None  # not started
        assert _match(s, T0 + H, component="feature_db") is None  # matcher says no
        hit = _match(s, T0 + H)
        assert hit is not None and hit.id == sid
        assert _match(s, T0 + 2 * H) is None  # expired: the end is exclusive
    with store.session(readonly=True) as s:
        row = silence_dict(list_silences(s, include_expired=True)[0])
    assert row["matched_count"] == 1 and row["last_matched_at"] == (T0 + H).isoformat()
    assert row["component"] == "et*" and row["author"] == "user:ana" and row["reason"] == "etl migration"


def test_expired_silence_stops_matching_and_records_who_ended_it(store: Store) -> None:
    with store.session() as s:
        sid = add_silence(s, author="user:ana", reason="r", system="fraud", starts_at=T0, ends_at=T0 + 5 * H).id
    with store.session() as s:
        expire_silence(s, sid, "user:bo", at=T0 + H)
    with store.session() as s:
        assert _match(s, T0 + 2 * H) is None
        assert _match(s, T0 + timedelta(minutes=30)) is not None  # it was active before it was ended
        sil = list_silences(s, include_expired=True)[0]
        assert sil.expired_by == "user:bo" and sil.ends_at == T0 + H
        assert list_silences(s, active_at=T0 + 2 * H) == []
        with pytest.raises(StoreError, match="already ended"):
            expire_silence(s, sid, "user:bo", at=T0 + 3 * H)
        with pytest.raises(NotFoundError, match="no silence 999"):
            expire_silence(s, 999, "user:bo")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reason": "r"}, "no matcher"),
        ({"reason": "", "component": "etl"}, "reason is empty"),
        ({"reason": "r", "incident_type": "dataquality"}, "incident_type 'dataquality' is unknown"),
        ({"reason": "r", "component": "etl", "ends_at": T0 - H}, "not after its start"),
        ({"reason": "r", "component": "etl", "ends_at": None, "duration": None}, "no expiry"),
    ],
)
def test_bad_silences_are_refused_with_the_reason(store: Store, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"author": "user:ana", "starts_at": T0, "ends_at": T0 + H} | kwargs
    with store.session() as s, pytest.raises(StoreError, match=message):
        add_silence(s, **args)  # type: ignore[arg-type]


def test_idle_silences_are_the_active_ones_that_matched_nothing(store: Store) -> None:
    with store.session() as s:
        used = add_silence(s, author="a", reason="r", component="etl", starts_at=T0, duration=H).id
        idle = add_silence(s, author="a", reason="typo", component="elt", starts_at=T0, duration=H).id
        _match(s, T0 + timedelta(minutes=5))
        assert [x.id for x in idle_silences(s, at=T0 + timedelta(minutes=10))] == [idle]
        assert used != idle


def test_check_history_counts_failures_of_the_last_n_runs(store: Store) -> None:
    with store.session() as s:
        for i, failing in enumerate([{"a": {}}, {}, {"a": {}, "b": {}}, {"b": {}}]):
            record_run(s, "sys", T0 + i * H, failing)
        record_run(s, "other", T0 + 4 * H, {"a": {}})  # another system never counts
    with store.session() as s:
        assert failure_history(s, "sys", "a", runs=3, until=T0 + 3 * H) == [False, True, False]
        assert failure_history(s, "sys", "a", runs=10, until=T0 + 4 * H) == [True, False, True, False]
        assert failure_history(s, "sys", "a", runs=2, until=T0 + H) == [True, False]
        # re-running an hour replaces its record instead of counting twice
        record_run(s, "sys", T0 + 3 * H, {"a": {}})
        assert failure_history(s, "sys", "a", runs=2, until=T0 + 3 * H) == [True, True]
        assert failure_history(s, "sys", "zzz", runs=2, until=T0 - H) == []


# --------------------------------------------------------------------------- candidate decisions


def test_silenced_candidate_is_not_opened_and_the_match_is_counted(store: Store, config: SystemConfig) -> None:
    with store.session() as s:
        sid = add_silence(
            s, author="user:ana", reason="planned", incident_type="performance_*", starts_at=T0, duration=H
        ).id
    cands = [_cand(PERF, "scoring_api", "latency"), _cand(DQ, "etl", "null_rate")]
    out = handle_candidates(store, config, cands, T0 + timedelta(minutes=30))
    assert [o.type for o in out.incidents] == ["data_quality"]
    assert [(c.reason, c.type, c.by) for c in out.suppressed] == [
        ("silence", "performance_availability", f"silence:{sid}")
    ]
    assert out.counts == {"opened": 1, "deduplicated": 0, "silence": 1, "inhibition": 0, "pending": 0}
    assert out.idle_silences == []
    # after expiry the same candidate opens
    later = handle_candidates(store, config, cands[:1], T0 + 2 * H)
    assert later.counts["opened"] == 1


def test_data_quality_incident_inhibits_the_model_quality_incident_it_explains(
    store: Store, config: SystemConfig
) -> None:
    dq = _cand(DQ, "merchant_ingest", "null_rate", ["merchant_ingest", "etl"])
    qd = _cand(QD, "fraud_model", "accuracy_drop")
    perf = _cand(PERF, "scoring_api", "latency")
    out = handle_candidates(store, config, [qd, perf, dq], T0)  # the inhibitor is handled first anyway
    opened = {o.type: o for o in out.incidents}
    assert set(opened) == {"data_quality", "performance_availability"}
    (inh,) = out.suppressed
    assert inh.reason == "inhibition" and inh.type == "quality_degradation" and inh.by == opened["data_quality"].key
    assert out.types() == {"data_quality", "performance_availability", "quality_degradation"}
    with store.session() as s:
        log = events(s, get_incident(s, opened["data_quality"].key))
        audit = [e for e in log if e.kind == EventKind.INHIBITED]
        assert len(audit) == 1 and audit[0].payload["component"] == "fraud_model"
    # next hour: the data-quality incident is still open (deduplicated) and keeps inhibiting
    nxt = handle_candidates(store, config, [qd, dq], T0 + H)
    assert nxt.counts == {"opened": 0, "deduplicated": 1, "silence": 0, "inhibition": 1, "pending": 0}
    # it inhibits while it fires: seen in the previous run is enough (one quiet run is a flap) ...
    assert handle_candidates(store, config, [qd], T0 + 2 * H).counts["inhibition"] == 1
    # ... but left open after its data was fixed it hides no later model incident
    late = handle_candidates(store, config, [qd], T0 + 4 * H)
    assert late.counts["opened"] == 1 and late.incidents[0].type == "quality_degradation"
    # with inhibition off the model incident opens
    off = config.model_copy(update={"alerting": config.alerting.model_copy(update={"inhibit": False})})
    assert handle_candidates(store, off, [qd], T0 + 5 * H).counts["deduplicated"] == 1


def test_a_later_signal_of_an_open_fault_joins_its_incident_and_a_fresh_one_opens_its_own(
    store: Store, config: SystemConfig
) -> None:
    integ = IncidentType.INTEGRATION_DEPENDENCY
    timeout = _cand(integ, "geo_api", "timeout_rate", ["geo_api", "feature_store"]).model_copy(
        update={"onset": T0 - timedelta(minutes=20)}
    )
    first = handle_candidates(store, config, [timeout], T0)
    (opened,) = first.incidents
    # an hour on, the feature store's null share (on since the dependency failed) crosses its bar
    nulls = _cand(DQ, "feature_store", "null_rate").model_copy(update={"onset": T0 - timedelta(minutes=20)})
    later = handle_candidates(store, config, [timeout, nulls], T0 + H)
    assert later.counts["opened"] == 0 and {o.key for o in later.incidents} == {opened.key}
    with store.session() as s:
        dups = [e for e in events(s, get_incident(s, opened.key)) if e.kind == EventKind.DUPLICATE]
        assert any(e.payload["title"] == "null_rate on feature_store" for e in dups)
    # a signal that began after the incident's last run is a new fault: its own incident
    fresh = _cand(DQ, "feature_store", "null_rate").model_copy(update={"onset": T0 + H + timedelta(minutes=30)})
    news = handle_candidates(store, config, [fresh], T0 + 2 * H)
    assert news.counts["opened"] == 1 and news.incidents[0].key != opened.key


def test_an_incident_opens_only_after_m_of_n_failing_runs(store: Store, config: SystemConfig) -> None:
    cfg = config.model_copy(
        update={"alerting": config.alerting.model_copy(update={"pending_failures": 2, "pending_runs": 3})}
    )
    cand = _cand(PERF, "feature_db", "cpu")
    first = handle_candidates(store, cfg, [cand], T0)
    assert first.incidents == [] and first.suppressed[0].reason == "pending"
    assert "failed in 1 of the last 1 runs" in first.suppressed[0].detail
    handle_candidates(store, cfg, [], T0 + H)  # a quiet run in between
    handle_candidates(store, cfg, [], T0 + 2 * H)
    third = handle_candidates(store, cfg, [cand], T0 + 3 * H)  # the first failure fell out of the window
    assert third.counts["pending"] == 1
    fourth = handle_candidates(store, cfg, [cand], T0 + 4 * H)
    assert fourth.counts["opened"] == 1
    fp = fingerprint_for(cfg.system.name, PERF, "", "feature_db")
    assert fourth.incidents[0].fingerprint == fp
    fifth = handle_candidates(store, cfg, [cand], T0 + 5 * H)  # open now: a duplicate, not pending
    assert fifth.counts["deduplicated"] == 1 and fifth.incidents[0].occurrences == 2


def test_pending_config_rejects_m_above_n() -> None:
    from pydantic import ValidationError

    from rcaflows.config.models import AlertingConfig

    with pytest.raises(ValidationError, match="must not exceed"):
        AlertingConfig(pending_failures=3, pending_runs=2)


def test_upstream_fingerprint_is_kept_verbatim_and_dedups(store: Store, config: SystemConfig) -> None:
    base = _cand(PERF, "gateway", "latency")
    check = base.checks[0].model_copy(update={"details": {"fingerprint": "am:7f3a9c"}})
    cand = base.model_copy(update={"checks": [check]})
    first = handle_candidates(store, config, [cand], T0)
    assert first.incidents[0].fingerprint == "am:7f3a9c"
    again = handle_candidates(store, config, [cand], T0 + H)
    assert again.counts["deduplicated"] == 1 and again.incidents[0].key == first.incidents[0].key


def test_a_replayed_run_triages_at_its_own_time(store: Store, config: SystemConfig) -> None:
    out = handle_candidates(store, config, [_cand(PERF, "scoring_api", "latency")], T0)
    with store.session() as s:
        log = events(s, get_incident(s, out.incidents[0].key))
    assert [(e.kind, e.at) for e in log[:2]] == [(EventKind.DETECTED, T0), (EventKind.TRANSITION, T0)]
