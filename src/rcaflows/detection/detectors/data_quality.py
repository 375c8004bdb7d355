"""Data quality: great-expectations suites on landed batches, pipeline-metric shifts, feature drift."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from rcaflows.config.models import ExpectationSpec, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import (
    CheckFactory,
    rate_onset,
    register,
    score_from_ratio,
    seasonal_reference,
    to_datetime,
)
from rcaflows.detection.models import CheckResult
from rcaflows.detection.robust import window_shift_checks
from rcaflows.detection.stats import detect_drift
from rcaflows.graph import system_graph
from rcaflows.vocab import CheckStatus, IncidentType

#: ExpectationSpec.expectation -> (great-expectations type, subtype of a failure)
SUBTYPES = {
    "not_null": "null_rate",
    "between": "out_of_range",
    "of_type": "type_mismatch",
    "in_set": "unexpected_values",
    "row_count_between": "row_count",
    "columns_match": "schema",
}

_GX_LOCK = threading.Lock()
_GX: dict[str, Any] = {}


def gx_batch_definition() -> Any:
    """Return the process-wide ephemeral GX batch definition, importing great-expectations on first use."""
    with _GX_LOCK:
        if "bd" not in _GX:
            import great_expectations as gx  # 3-4 s: only paid by processes that validate data
            import great_expectations.expectations as gxe
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            bd = (
                ctx.data_sources.add_pandas(name="rcaflows")
                .add_dataframe_asset(name="batch")
                .add_batch_definition_whole_dataframe("whole")
            )
            _GX.update(gx=gx, gxe=gxe, ctx=ctx, bd=bd)
        return _GX["bd"]


def build_expectation(spec: ExpectationSpec, index: int) -> Any:
    """Return the great-expectations Expectation of one spec, tagged with its index in ``meta``."""
    gx_batch_definition()
    gxe = _GX["gxe"]
    meta = {"spec": index}
    mostly = spec.mostly
    if spec.expectation == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=spec.column, mostly=mostly, meta=meta)
    if spec.expectation == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=spec.column, min_value=spec.min, max_value=spec.max, mostly=mostly, meta=meta
        )
    if spec.expectation == "of_type":
        return gxe.ExpectColumnValuesToBeOfType(column=spec.column, type_=spec.type_, meta=meta)
    if spec.expectation == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(
            column=spec.column, value_set=list(spec.values), mostly=mostly, meta=meta
        )
    if spec.expectation == "row_count_between":
        return gxe.ExpectTableRowCountToBeBetween(min_value=spec.min, max_value=spec.max, meta=meta)
    if spec.expectation == "columns_match":
        return gxe.ExpectTableColumnsToMatchSet(column_set=list(spec.values), exact_match=True, meta=meta)
    raise ValueError(f"unknown expectation {spec.expectation!r}")


def _unexpected_mask(df: pd.DataFrame, spec: ExpectationSpec) -> np.ndarray | None:
    """Return the per-row unexpected mask of a column expectation (for locating the onset)."""
    if spec.column is None or spec.column not in df.columns:
        return None
    col = df[spec.column]
    if spec.expectation == "not_null":
        return col.isna().to_numpy()
    if spec.expectation == "between":
        v = pd.to_numeric(col, errors="coerce")
        bad = pd.Series(False, index=col.index)
        if spec.min is not None:
            bad |= v < spec.min
        if spec.max is not None:
            bad |= v > spec.max
        return bad.to_numpy()
    if spec.expectation == "in_set":
        return (col.notna() & ~col.isin(spec.values)).to_numpy()
    return None


def _without_unused_columns(df: pd.DataFrame, specs: list[ExpectationSpec]) -> pd.DataFrame:
    """Drop the columns no expectation names that carry no value at all in this window.

    Batches read together from files of two schemas (a newer one adding a column) give the older
    files' rows nulls in the new column: a window of only older rows has no such column in its
    batches, and a schema check must not see one there.
    """
    named = {s.column for s in specs} | {v for s in specs if s.expectation == "columns_match" for v in s.values}
    unused = [c for c in df.columns if c not in named and df[c].isna().all()]
    return df.drop(columns=unused) if unused else df


def _schema_onset(df: pd.DataFrame, expected: list[str]) -> Any:
    """Return when unexpected columns first carry values (the batch's start if none do)."""
    extra = [c for c in df.columns if c not in expected]
    firsts = [df.loc[df[c].notna(), "timestamp"].min() for c in extra]
    firsts = [t for t in firsts if not pd.isna(t)]
    return min(firsts) if firsts else df["timestamp"].min()


def validate_suite(
    make: CheckFactory,
    items: list[tuple[int, ExpectationSpec]],
    df: pd.DataFrame,
    *,
    where: str,
    comp: str,
    suite_name: str,
    onset: Any,
    details: dict[str, Any],
    headline: str = "",
) -> tuple[list[CheckResult], list[Any]]:
    """Run the expectations ``items`` (``(index in the spec list, spec)``) on one batch ``df``.

    A column an expectation names that the batch lacks is a failing ``schema`` check (the rest still
    run); great-expectations raising is a ``no_data`` check, never an exception. Returns those checks
    and GX's results, whose ``expectation_config.meta["spec"]`` is the spec's index. Shared by the
    serving batches' suite and the training batches' suite (``training_data``).
    """
    out: list[CheckResult] = []
    runnable = []
    for i, spec in items:
        if spec.column is not None and spec.column not in df.columns:
            out.append(
                make(
                    check=f"expect_{spec.expectation}",
                    subtype="schema",
                    component=comp,
                    metric=spec.column,
                    status=CheckStatus.FAIL,
                    score=0.9,
                    onset=onset,
                    message=f"{where}: column '{spec.column}' is missing from the batch "
                    f"(columns: {', '.join(map(str, df.columns))})",
                    details={
                        **details,
                        "expectation": spec.expectation,
                        "headline": f"{headline}{spec.column} missing",
                    },
                )
            )
        else:
            runnable.append((i, spec))
    if not runnable:
        return out, []
    bd = gx_batch_definition()  # builds the GX context (and _GX) on first use
    suite = _GX["gx"].ExpectationSuite(name=suite_name)
    for i, spec in runnable:
        suite.add_expectation(build_expectation(spec, i))
    try:
        res = bd.get_batch(batch_parameters={"dataframe": df}).validate(suite)
    except Exception as exc:  # a broken suite must not hide the detector's other checks
        out.append(
            make.no_data(
                comp,
                "batch",
                f"{where}: great-expectations validation raised {type(exc).__name__}: {exc}",
                check="expectation_suite",
                metric=details.get("batch", details.get("node")),
                details=details,
            )
        )
        return out, []
    return out, list(res.results)


@register
class DataQualityDetector:
    """Expectations on batches, robust shifts of pipeline metrics, and feature drift per lineage node."""

    name = "data_quality"
    incident_type = IncidentType.DATA_QUALITY
    scope = "frames"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return expectation, pipeline-metric and drift checks."""
        make = CheckFactory(self.name, self.incident_type, window.current)
        nodes = {n.name: n for n in config.lineage.nodes}
        out = self._expectations(window, config, make, nodes)
        out += self._pipeline_metrics(window, config, make)
        out += self._drift(window, config, make, nodes)
        return out

    # ----------------------------------------------------------------- expectations
    def _expectations(
        self, window: Window, config: SystemConfig, make: CheckFactory, nodes: dict[str, Any]
    ) -> list[CheckResult]:
        specs = config.detectors.data_quality.expectations
        out: list[CheckResult] = []
        by_node: dict[str, list[tuple[int, ExpectationSpec]]] = {}
        for i, spec in enumerate(specs):
            by_node.setdefault(spec.node, []).append((i, spec))
        for node, items in by_node.items():
            comp = (nodes[node].component if node in nodes else None) or node
            df = window.current.batches.get(node)
            if df is None or df.empty:
                out.append(
                    make.no_data(
                        comp,
                        "batch",
                        f"no batch landed at {node} in the current window",
                        check="expectation_suite",
                        metric=node,
                        details={"node": node},
                    )
                )
                continue
            df = _without_unused_columns(df, [s for _, s in items])
            checks, results = validate_suite(
                make,
                items,
                df,
                where=node,
                comp=comp,
                suite_name=f"rcaflows_{node}",
                onset=to_datetime(df["timestamp"].min()),
                details={"node": node},
            )
            out += checks
            for r in results:
                spec = specs[int(r.expectation_config.meta["spec"])]
                out.append(self._expectation_check(make, node, comp, spec, r, df, window.reference.batches.get(node)))
        return out

    @staticmethod
    def _expectation_check(
        make: CheckFactory,
        node: str,
        comp: str,
        spec: ExpectationSpec,
        r: Any,
        df: pd.DataFrame,
        ref: pd.DataFrame | None,
    ) -> CheckResult:
        result = r.result or {}
        raised = bool((r.exception_info or {}).get("raised_exception"))
        what = spec.column or "table"
        unexpected = result.get("unexpected_percent")
        observed = result.get("observed_value")
        allowed = 1.0 - spec.mostly
        if raised:
            err = r.exception_info.get("exception_message")
            msg = f"{node}: expect_{spec.expectation} on {what} raised {err}"
        elif unexpected is not None:
            msg = f"{node}: {unexpected:.2f} % of {what} values fail expect_{spec.expectation} (allowed {allowed:.1%})"
        else:
            msg = f"{node}: expect_{spec.expectation} on {what} observed {observed!r}"
        status = CheckStatus.OK if r.success else CheckStatus.FAIL
        if status == CheckStatus.FAIL:
            score = score_from_ratio((unexpected or 100.0) / 100.0 / max(allowed, 0.01)) if unexpected else 0.8
            score = max(score, 0.5)
        else:
            score = 0.0
        onset = None
        if status == CheckStatus.FAIL:
            mask = _unexpected_mask(df, spec)
            ref_mask = _unexpected_mask(ref, spec) if ref is not None and not ref.empty else None
            if mask is not None and ref is not None and ref_mask is not None:
                onset = rate_onset(ref["timestamp"], ref_mask.astype(float), df["timestamp"], mask.astype(float))
            elif mask is not None:
                onset = df["timestamp"].min()
            elif spec.expectation == "columns_match":
                onset = _schema_onset(df, list(spec.values))
            else:
                onset = df["timestamp"].min()
        return make(
            check=f"expect_{spec.expectation}",
            subtype=SUBTYPES[spec.expectation],
            component=comp,
            metric=spec.column or ("columns" if spec.expectation == "columns_match" else "row_count"),
            status=status,
            statistic=(
                unexpected / 100.0
                if unexpected is not None
                else observed
                if isinstance(observed, int | float)
                else None
            ),
            threshold=allowed if unexpected is not None else None,
            score=score,
            onset=to_datetime(onset),
            message=msg,
            details={
                "node": node,
                "expectation": r.expectation_config.type,
                "observed": observed if isinstance(observed, int | float | str | list) else None,
                "headline": f"{what} {SUBTYPES[spec.expectation].replace('_', ' ')}",
            },
        )

    # ----------------------------------------------------------------- pipeline metrics
    def _pipeline_metrics(self, window: Window, config: SystemConfig, make: CheckFactory) -> list[CheckResult]:
        s = config.detectors.data_quality
        specs = [m for m in config.metrics if m.kind in s.kinds]
        return window_shift_checks(
            window,
            specs,
            make,
            z_threshold=s.z_threshold,
            min_relative_change=s.min_relative_change,
            # The data-quality block has no sustain of its own; pipelines share the service one.
            sustain=config.detectors.performance_availability.sustain,
        )

    # ----------------------------------------------------------------- drift
    def _drift(
        self, window: Window, config: SystemConfig, make: CheckFactory, nodes: dict[str, Any]
    ) -> list[CheckResult]:
        s = config.detectors.data_quality
        out: list[CheckResult] = []
        graph = system_graph(config) if s.drift_nodes else None
        for node in s.drift_nodes:
            comp = (nodes[node].component if node in nodes else None) or node
            cur = window.current.batches.get(node)
            ref = window.reference.batches.get(node)
            if cur is None or cur.empty or ref is None or ref.empty:
                out.append(
                    make.no_data(
                        comp,
                        "drift",
                        f"{node}: no batch in the {'current' if cur is None or cur.empty else 'reference'} window",
                        check="drift",
                        metric=node,
                        details={"node": node},
                    )
                )
                continue
            history = ref
            ref = seasonal_reference(
                ref, window.current.start, window.current.end, reference_start=window.reference.start
            )
            if ref.empty:
                out.append(
                    make.no_data(
                        comp,
                        "drift",
                        f"{node}: the reference holds no rows at this time of day (left out as a fixed fault's span)",
                        check="drift",
                        metric=node,
                        details={"node": node},
                    )
                )
                continue
            wanted = nodes[node].columns if node in nodes and nodes[node].columns else None
            present = set(cur.columns) | set(ref.columns)
            columns = [c for c in (wanted or present) if c in present and c != "timestamp"]
            table = detect_drift(ref, cur, alpha=s.drift_alpha, min_effect=s.drift_min_effect, columns=columns)
            for row in table.to_dict("records"):
                col = str(row["column"])
                method = str(row["method"])
                if method == "no_data":
                    continue
                drifted = bool(row["drifted"])
                effect = float(row["effect"]) if row["effect"] == row["effect"] else 0.0
                sub = "schema" if method == "schema" else "null_rate" if method == "null_rate" else "drift"
                # the component producing the column upstream, where a drift is most likely introduced
                origin = graph.column_origin(col, seen_from=node) if graph is not None else None
                src = None
                if graph is not None and origin is not None:
                    src = graph.lineage.nodes[origin].get("component") or origin
                onset = None
                if drifted and col in cur.columns:
                    onset = self._drift_onset(ref, history, cur, col, nulls_only=method == "null_rate")
                out.append(
                    make(
                        check="drift",
                        subtype=sub,
                        component=comp,
                        metric=col,
                        status=CheckStatus.FAIL if drifted else CheckStatus.OK,
                        statistic=row["statistic"],
                        threshold=s.drift_min_effect,
                        p_value=row["p_value"],
                        score=max(0.5, score_from_ratio(effect / max(s.drift_min_effect, 1e-9)))
                        if drifted
                        else min(0.49, score_from_ratio(effect / max(s.drift_min_effect, 1e-9))),
                        onset=to_datetime(onset),
                        message=(
                            f"{node}.{col} {'drifted' if drifted else 'stable'}: {method} statistic "
                            f"{row['statistic']:.3f}, effect {effect:.2f} (min {s.drift_min_effect}), "
                            f"BH p {row['p_value']:.2g}, {row['n_current']} vs {row['n_reference']} values"
                            + (f"; produced upstream by {src}" if src and drifted else "")
                        ),
                        details={
                            "node": node,
                            "method": method,
                            "effect": effect,
                            "source_component": src,
                            "n_reference": int(row["n_reference"]),
                            "n_current": int(row["n_current"]),
                            "headline": f"{col} {sub.replace('_', ' ')}",
                        },
                    )
                )
        return out

    @staticmethod
    def _drift_onset(ref: pd.DataFrame, history: pd.DataFrame, cur: pd.DataFrame, col: str, nulls_only: bool) -> Any:
        """Return when the share of the column's values outside the reference's middle half (or null) moved.

        For a change of the null share alone (``nulls_only``) only nulls count: mixing in the half
        of the values outside the middle half would bury a 30 % null share in noise.
        """
        if nulls_only and col in history.columns:
            return rate_onset(
                history["timestamp"],
                history[col].isna().to_numpy(dtype=float),
                cur["timestamp"],
                cur[col].isna().to_numpy(dtype=float),
            )
        r = pd.to_numeric(ref[col], errors="coerce") if col in ref.columns else pd.Series(dtype=float)
        c = pd.to_numeric(cur[col], errors="coerce")
        if c.notna().sum() == 0 or r.notna().sum() == 0 or col not in history.columns:
            return cur["timestamp"].min()
        lo, hi = np.nanquantile(r, [0.25, 0.75])

        def unusual(v: pd.Series) -> np.ndarray:
            return (v.isna() | (v < lo) | (v > hi)).to_numpy(dtype=float)

        h = pd.to_numeric(history[col], errors="coerce")
        return rate_onset(history["timestamp"], unusual(h), cur["timestamp"], unusual(c))
