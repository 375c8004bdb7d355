from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rcaflows.config import load_config
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources.gx_results import checks_from_results, load_gx_checks, read_validation_results
from rcaflows.vocab import CheckStatus, IncidentType

CFG = load_config()
#: real GX 1.24 results, written by run_gx() below (regenerate: python tests/sources/test_gx_results.py)
RECORDED = Path(__file__).parent / "data" / "gx_validation_results.json"
ASSETS = {"feature_store": "feature_store", "warehouse/raw_merchants": "raw_merchants"}


def run_gx() -> list[dict[str, Any]]:
    """Validate two demo batches of the schema_change_nulls world with great-expectations; return the results."""
    import great_expectations as gx

    from rcaflows.demo import DEMO_END, simulate

    data = simulate("schema_change_nulls").data.slice(DEMO_END - timedelta(hours=1), DEMO_END)
    ctx = gx.get_context(mode="ephemeral")
    out = []
    for source, asset, frame, expectations in (
        (
            "lake",
            "feature_store",
            data.batches["feature_store"],
            [
                gx.expectations.ExpectColumnValuesToNotBeNull(column="merchant_risk", mostly=0.95),
                gx.expectations.ExpectColumnValuesToBeBetween(column="hour", min_value=0, max_value=23),
            ],
        ),
        (
            "warehouse",
            "raw_merchants",
            data.batches["raw_merchants"],
            [gx.expectations.ExpectColumnValuesToNotBeNull(column="risk_score_v2")],
        ),
    ):
        batch = ctx.data_sources.add_pandas(source).add_dataframe_asset(asset)
        suite = ctx.suites.add(gx.ExpectationSuite(f"{asset}_suite"))
        for e in expectations:
            suite.add_expectation(e)
        result = (
            batch.add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": frame.reset_index(drop=True)})
            .validate(suite)
        )
        out.append(result.to_json_dict())
    return out


def summary(checks: list) -> list[tuple[str, str, str | None, str, str]]:
    return [(c.component, c.check, c.metric, c.subtype, str(c.status)) for c in checks]


EXPECTED = [
    ("feature_store", "expect_column_values_to_not_be_null", "merchant_risk", "null_rate", "fail"),
    ("feature_store", "expect_column_values_to_be_between", "hour", "out_of_range", "ok"),
    ("merchant_ingest", "expect_column_values_to_not_be_null", "risk_score_v2", "schema", "fail"),
]


def test_recorded_results_map_to_lineage_nodes() -> None:
    checks = load_gx_checks(RECORDED, CFG, ASSETS)
    assert summary(checks) == EXPECTED
    nulls = checks[0]
    assert nulls.incident_type == IncidentType.DATA_QUALITY and nulls.details["node"] == "feature_store"
    assert nulls.statistic is not None and nulls.statistic > 0.05 and nulls.score >= 0.5
    assert checks[1].score == 0.0
    assert "raised" in checks[2].message and checks[2].status == CheckStatus.FAIL


def test_unmapped_asset_and_unknown_node_are_clear_errors(tmp_path: Path) -> None:
    results = read_validation_results(RECORDED)
    with pytest.raises(DataError, match="data asset 'raw_merchants' \\(datasource 'warehouse'\\) has no lineage node"):
        checks_from_results(results, CFG, {"feature_store": "feature_store"})
    with pytest.raises(ConfigError, match=r"assets\.feature_store: unknown lineage node 'nope'"):
        checks_from_results(results, CFG, {"feature_store": "nope"})
    (tmp_path / "x.json").write_text(json.dumps({"success": True}))
    with pytest.raises(DataError, match=r"x\.json: not a validation result"):
        read_validation_results(tmp_path)


@pytest.mark.slow
def test_live_great_expectations_results_map_the_same(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(run_gx()))
    assert summary(load_gx_checks(path, CFG, ASSETS)) == EXPECTED


if __name__ == "__main__":
    RECORDED.write_text(json.dumps(run_gx(), indent=1, default=str) + "\n")
