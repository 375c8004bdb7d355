"""Existing great-expectations validation results (GX 1.x ``ExpectationSuiteValidationResult`` JSON) as checks.

Teams that already validate their batches with GX keep doing so; rcaflows reads the results
(``result.to_json_dict()`` written to a file: one result, a list of them, or a directory of
``.json`` files) and maps every expectation to a :class:`CheckResult` of type ``data_quality`` on
the lineage node of its data asset::

    assets: {feature_store: feature_store, "warehouse/raw_merchants": raw_merchants}

Keys are ``data_asset_name`` or ``datasource_name/data_asset_name`` (the latter wins).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rcaflows.config.models import SystemConfig
from rcaflows.detection.base import score_from_ratio
from rcaflows.detection.models import CheckResult
from rcaflows.errors import ConfigError, DataError
from rcaflows.vocab import CheckStatus, IncidentType

#: GX expectation type -> the data-quality subtype the detector uses for the same failure
SUBTYPES = {
    "expect_column_values_to_not_be_null": "null_rate",
    "expect_column_values_to_be_between": "out_of_range",
    "expect_column_values_to_be_of_type": "type_mismatch",
    "expect_column_values_to_be_in_type_list": "type_mismatch",
    "expect_column_values_to_be_in_set": "unexpected_values",
    "expect_table_row_count_to_be_between": "row_count",
    "expect_table_columns_to_match_ordered_list": "schema",
    "expect_table_columns_to_match_set": "schema",
    "expect_column_to_exist": "schema",
}


def read_validation_results(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Return ``(where, result)`` pairs from a JSON file (one result or a list) or a directory of them."""
    if not path.exists():
        raise DataError(f"{path}: great-expectations results not found")
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    out: list[tuple[str, dict[str, Any]]] = []
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{f}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        items = doc if isinstance(doc, list) else [doc]
        for i, item in enumerate(items):
            where = f"{f}" if len(items) == 1 else f"{f}: result {i + 1}"
            if not isinstance(item, dict) or not isinstance(item.get("results"), list):
                raise DataError(f"{where}: not a validation result (expected an object with 'results' and 'meta')")
            out.append((where, item))
    return out


def _node_of(result: Mapping[str, Any], assets: Mapping[str, str], where: str) -> str:
    batch = (result.get("meta") or {}).get("active_batch_definition") or {}
    asset, datasource = batch.get("data_asset_name"), batch.get("datasource_name")
    if asset is None:
        raise DataError(f"{where}: meta.active_batch_definition.data_asset_name is missing; cannot map to a node")
    for key in (f"{datasource}/{asset}", str(asset)):
        if key in assets:
            return assets[key]
    raise DataError(
        f"{where}: data asset {asset!r} (datasource {datasource!r}) has no lineage node; add it to 'assets'"
    )


def checks_from_results(
    results: list[tuple[str, dict[str, Any]]],
    config: SystemConfig,
    assets: Mapping[str, str],
    window: tuple[datetime, datetime] | None = None,
) -> list[CheckResult]:
    """Map every expectation of every result to a ``data_quality`` check on its asset's lineage node."""
    nodes = {n.name: n for n in config.lineage.nodes}
    for key, node in assets.items():
        if node not in nodes:
            raise ConfigError(f"assets.{key}: unknown lineage node {node!r}; expected one of {sorted(nodes)}")
    checks = []
    for where, result in results:
        node = _node_of(result, assets, where)
        component = nodes[node].component or node
        for i, r in enumerate(result["results"]):
            cfg = r.get("expectation_config") or {}
            etype = str(cfg.get("type") or cfg.get("expectation_type") or "")
            if not etype:
                raise DataError(f"{where}: results[{i}].expectation_config.type is missing")
            kwargs = cfg.get("kwargs") or {}
            column = kwargs.get("column")
            mostly = float(kwargs.get("mostly", 1.0))
            allowed = 1.0 - mostly
            res = r.get("result") or {}
            exc = _exception(r.get("exception_info"))
            unexpected = res.get("unexpected_percent")
            subtype = SUBTYPES.get(etype, "expectation")
            what = column or "table"
            if exc is not None:
                msg = f"{node}: {etype} on {what} raised {exc}"
                subtype = "schema" if column else subtype
            elif unexpected is not None:
                msg = f"{node}: {unexpected:.2f} % of {what} values fail {etype} (allowed {allowed:.1%})"
            else:
                msg = f"{node}: {etype} on {what} observed {res.get('observed_value')!r}"
            failed = not bool(r.get("success"))
            score = 0.0
            if failed:
                ratio = (unexpected or 100.0) / 100.0 / max(allowed, 0.01)
                score = max(score_from_ratio(ratio) if unexpected else 0.8, 0.5)
            checks.append(
                CheckResult(
                    detector="data_quality",
                    check=etype,
                    incident_type=IncidentType.DATA_QUALITY,
                    subtype=subtype,
                    component=component,
                    metric=column or ("columns" if subtype == "schema" else "row_count"),
                    status=CheckStatus.FAIL if failed else CheckStatus.OK,
                    statistic=unexpected / 100.0 if unexpected is not None else None,
                    threshold=allowed if unexpected is not None else None,
                    score=score,
                    window_start=window[0] if window else None,
                    window_end=window[1] if window else None,
                    message=msg,
                    details={
                        "node": node,
                        "expectation": etype,
                        "suite": result.get("suite_name"),
                        "validated_at": ((result.get("meta") or {}).get("batch_markers") or {}).get("ge_load_time"),
                        "source": where,
                        "headline": f"{what} {subtype.replace('_', ' ')}",
                    },
                )
            )
    return checks


def _exception(info: Any) -> str | None:
    """Return the first exception message of an ``exception_info`` (flat, or keyed by metric as GX 1.x writes it)."""
    if not isinstance(info, Mapping):
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, Mapping)]
    for e in entries:
        if e.get("raised_exception"):
            return str(e.get("exception_message") or "an exception").splitlines()[0]
    return None


def load_gx_checks(path: Path, config: SystemConfig, assets: Mapping[str, str]) -> list[CheckResult]:
    """Read the validation results at ``path`` and map them to data-quality checks."""
    return checks_from_results(read_validation_results(path), config, assets)
