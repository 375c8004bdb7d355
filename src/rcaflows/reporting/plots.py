"""Static plots for the HTML report, as base64 PNG data URIs with text alternatives.

Every plot draws on a bare :class:`~matplotlib.figure.Figure` over the Agg canvas: no files, no
global pyplot state, safe from worker threads. :func:`report_plots` computes the report's four
plots from an RCA context and result:

* the symptom metric with its onset, the detection time and its change points;
* the top hypotheses' metrics as small multiples on the symptom's time axis;
* the topology and lineage graphs with the suspected node highlighted;
* the drift effect sizes of the top features (from the model-behaviour phase).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from rcaflows.errors import EmptyWindowError
from rcaflows.rca.models import PhaseName, RcaResult
from rcaflows.reporting.models import Plot

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from rcaflows.rca.context import RcaContext

BLUE, AMBER, RED, GREY, GREEN = "#2457a6", "#8a5a00", "#a3221b", "#9aa3b2", "#1f7a3f"
#: hypotheses whose metrics are drawn as small multiples
TOP_CAUSES = 3
#: drifted features shown in the drift bar chart
TOP_FEATURES = 8
#: Titles sit at the top of their axes (a fixed y): left automatic, matplotlib measures every axis'
#: tick labels to dodge them, a fifth of the plots' render time.
TITLE_Y = 1.0


def _figure(width: float, height: float, *, left: float = 0.7, bottom: float = 0.45, top: float = 0.3) -> Figure:
    """Return a bare Agg figure with fixed margins in inches (constrained layout costs ~4x the render)."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / width, right=1 - 0.15 / width, bottom=bottom / height, top=1 - top / height, hspace=0.55
    )
    return fig


def _x(index: pd.Index) -> np.ndarray:
    """Return timestamps as matplotlib date numbers (UTC), vectorized."""
    ts = pd.DatetimeIndex(index)
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.asarray(mdates.date2num(ts.to_numpy()))


def _time_axis(ax: Axes, x: np.ndarray) -> None:
    """Tick a UTC time axis every whole number of hours (a fixed locator: auto date ticks are slow)."""
    span_h = max((float(x.max()) - float(x.min())) * 24, 1.0) if len(x) else 1.0
    ax.xaxis.set_major_locator(mdates.HourLocator(interval=max(1, int(np.ceil(span_h / 8)))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))


def _data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _tidy(ax: Axes) -> None:
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _when(value: datetime | pd.Timestamp) -> str:
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def _num(at: datetime) -> float:
    return float(_x(pd.DatetimeIndex([pd.Timestamp(at)]))[0])


def _mark_times(ax: Axes, onset: datetime | None, detected_at: datetime | None) -> None:
    if onset is not None:
        ax.axvline(_num(onset), color=AMBER, ls="--", lw=1.1, label="onset")
    if detected_at is not None:
        ax.axvline(_num(detected_at), color=RED, ls="-", lw=1.1, label="detected")


def _summary(values: pd.Series, split: datetime | None) -> str:
    """Describe a series in words: median before and after ``split`` (or its range)."""
    if split is None:
        return f"values from {values.min():.4g} to {values.max():.4g}"
    at = pd.Timestamp(split)
    before, after = values[values.index < at], values[values.index >= at]
    if before.empty or after.empty:
        return f"values from {values.min():.4g} to {values.max():.4g}"
    return f"median {before.median():.4g} before {_when(at)} and {after.median():.4g} after"


def change_point_times(series: pd.Series) -> list[pd.Timestamp]:
    """Return the timestamps where the series' level or trend changes (see ``change_points``)."""
    from rcaflows.detection.changepoints import change_points

    values = series.dropna()
    return [pd.Timestamp(values.index[i]) for i in change_points(values.to_numpy()) if i < len(values)]


def symptom_plot(
    series: pd.Series,
    onset: datetime | None,
    detected_at: datetime | None,
    *,
    title: str | None = None,
    change_points: Sequence[datetime] = (),
) -> str:
    """Plot the symptom metric with its onset, detection time and change points marked.

    Args:
        series: Metric values indexed by timestamp.
        onset: When the deviation started (dashed line), if known.
        detected_at: When the incident was detected (solid line), if known.
        title: Plot title; defaults to the series name.
        change_points: Times where the series' level or trend changed (dotted lines).

    Returns:
        A ``data:image/png;base64,...`` URI to pass to :func:`rcaflows.reporting.render_html` in ``plots``.

    Raises:
        EmptyWindowError: if the series holds no values to plot.
    """
    values = series.dropna()
    if values.empty:
        raise EmptyWindowError(f"cannot plot symptom {series.name!r}: the series holds no values")
    fig = _figure(7.0, 2.4)
    ax = fig.add_subplot()
    x = _x(values.index)
    ax.plot(x, values.to_numpy(), color=BLUE, lw=1.3)
    _time_axis(ax, x)
    for i, cp in enumerate(change_points):
        ax.axvline(_num(cp), color=GREY, ls=":", lw=1.0, label="change point" if i == 0 else None)
    _mark_times(ax, onset, detected_at)
    if onset is not None or detected_at is not None or change_points:
        ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_title(title if title is not None else str(series.name or ""), fontsize=9, loc="left", y=TITLE_Y)
    _tidy(ax)
    return _data_uri(fig)


def cause_metrics_plot(
    panels: Sequence[tuple[str, pd.Series]],
    onset: datetime | None,
    detected_at: datetime | None,
) -> str:
    """Plot candidate cause metrics as small multiples sharing one time axis.

    Args:
        panels: ``(title, series)`` per candidate, in rank order.
        onset: Symptom onset, marked on every panel.
        detected_at: Detection time, marked on every panel.

    Raises:
        EmptyWindowError: if no panel holds a value.
    """
    panels = [(t, s.dropna()) for t, s in panels]
    panels = [(t, s) for t, s in panels if not s.empty]
    if not panels:
        raise EmptyWindowError("cannot plot candidate causes: none of their series holds values")
    fig = _figure(7.0, 1.0 + 1.45 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, values) in zip(axes, panels, strict=True):
        x = _x(values.index)
        ax.plot(x, values.to_numpy(), color=GREEN, lw=1.2)
        _time_axis(ax, x)
        _mark_times(ax, onset, detected_at)
        ax.set_title(title, fontsize=8.5, loc="left", y=TITLE_Y)
        _tidy(ax)
    if onset is not None or detected_at is not None:
        axes[0].legend(loc="upper left", fontsize=7.5, frameon=False)
    return _data_uri(fig)


def _layered_layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Place a DAG's nodes in columns by topological generation (spring layout for cycles)."""
    if g.number_of_nodes() == 0:
        return {}
    if not nx.is_directed_acyclic_graph(g):
        pos = nx.spring_layout(g, seed=7)
        return {str(n): (float(x), float(y)) for n, (x, y) in pos.items()}
    out: dict[str, tuple[float, float]] = {}
    for x, layer in enumerate(nx.topological_generations(g)):
        names = sorted(str(n) for n in layer)
        ys = np.linspace(1.0, -1.0, len(names)) if len(names) > 1 else np.zeros(1)
        out.update({n: (float(x), float(y)) for n, y in zip(names, ys, strict=True)})
    return out


def _draw_graph(ax: Axes, g: nx.DiGraph, title: str, suspected: set[str], symptom: set[str]) -> None:
    pos = _layered_layout(g)
    ax.set_title(title, fontsize=9, loc="left", y=TITLE_Y)
    ax.set_axis_off()
    if not pos:
        ax.text(0.5, 0.5, "no graph configured", ha="center", va="center", fontsize=8, color=GREY)
        return
    names = list(pos)
    if g.number_of_edges():
        # One collection for every edge and one quiver for every arrowhead: per-edge annotations are slow.
        seg = np.array([[pos[str(u)], pos[str(v)]] for u, v in g.edges])
        ax.add_collection(LineCollection(list(seg), colors=GREY, linewidths=0.9, zorder=1))
        tip = seg[:, 0] + 0.8 * (seg[:, 1] - seg[:, 0])
        d = seg[:, 1] - seg[:, 0]
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
        ax.quiver(
            tip[:, 0],
            tip[:, 1],
            d[:, 0],
            d[:, 1],
            color=GREY,
            angles="xy",
            scale=28,
            width=0.004,
            headwidth=5,
            headlength=6,
            zorder=2,
        )
    xy = np.array([pos[n] for n in names])
    colors = [RED if n in suspected else AMBER if n in symptom else BLUE for n in names]
    sizes = [170 if n in suspected or n in symptom else 80 for n in names]
    ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=colors, zorder=3, edgecolors="white", linewidths=1.2)
    for n, (x, y) in zip(names, xy, strict=True):
        weight = "bold" if n in suspected else "normal"
        above = round(x) % 2 == 1  # alternate columns label above/below, so neighbours don't collide
        ax.text(
            x,
            y + 0.13 if above else y - 0.13,
            n,
            ha="center",
            va="bottom" if above else "top",
            fontsize=7,
            fontweight=weight,
            zorder=4,
        )
    ax.margins(0.15, 0.2)


def graph_plot(
    topology: nx.DiGraph,
    lineage: nx.DiGraph,
    suspected: Sequence[str],
    symptom: Sequence[str] = (),
) -> str:
    """Draw the topology (calls) and lineage (data flow) graphs, suspected nodes in red.

    Args:
        topology: Edge ``u -> v`` when u calls or depends on v.
        lineage: Edge ``u -> v`` when data flows from u to v.
        suspected: Nodes of either graph to highlight in red (the top hypothesis).
        symptom: Nodes to mark in amber (where the incident alerted).
    """
    fig = _figure(9.0, 3.2, left=0.1, bottom=0.1)
    fig.subplots_adjust(wspace=0.08)
    left, right = fig.subplots(1, 2)
    sus, sym = set(suspected), set(symptom) - set(suspected)
    _draw_graph(left, topology, "Topology (u → v: u calls v)", sus, sym)
    _draw_graph(right, lineage, "Lineage (u → v: data flows to v)", sus, sym)
    return _data_uri(fig)


def drift_plot(effects: Mapping[str, float], *, title: str = "Feature drift (effect size)") -> str:
    """Draw a horizontal bar chart of drift effect sizes, largest on top.

    Raises:
        EmptyWindowError: if there is no effect to draw.
    """
    if not effects:
        raise EmptyWindowError("cannot plot feature drift: no feature drifted")
    items = sorted(effects.items(), key=lambda kv: kv[1])
    longest = max(len(k) for k, _ in items)
    fig = _figure(7.0, 0.9 + 0.32 * len(items), left=min(0.25 + 0.065 * longest, 3.0), bottom=0.5)
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color=AMBER)
    ax.set_title(title, fontsize=9, loc="left", y=TITLE_Y)
    ax.set_xlabel("effect size", fontsize=8)
    _tidy(ax)
    return _data_uri(fig)


def _series(ctx: RcaContext, component: str, metric: str | None) -> pd.Series:
    """Return one series of the context's metrics (raw and derived), indexed by timestamp."""
    m = ctx.all_metrics
    if metric is None or m.empty:
        return pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    sel = m[(m["component"] == component) & (m["metric"] == metric)]
    s = pd.Series(sel["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(sel["timestamp"]), name=metric)
    return s.groupby(level=0).mean().sort_index()


def _name(component: str, metric: str | None) -> str:
    return f"{component} / {metric}" if metric else component


def report_plots(ctx: RcaContext, result: RcaResult) -> list[Plot]:
    """Return the report's plots computed from the RCA context and its result.

    Plots whose data is missing (no symptom series, no cause metric, no drifted feature) are
    left out rather than drawn empty; every plot carries a text alternative of what it shows.
    """
    plots: list[Plot] = []
    sym = result.symptom
    onset = ctx.symptom_onset
    onset_dt = onset.to_pydatetime() if onset is not None else None
    detected = sym.detected_at
    sym_name = _name(sym.component, sym.metric)

    series = _series(ctx, sym.component, sym.metric)
    if not series.dropna().empty:
        cps = change_point_times(series)
        cp_text = ", ".join(_when(c) for c in cps) if cps else "none"
        plots.append(
            Plot(
                caption=f"Symptom: {sym_name}",
                alt=(
                    f"Line chart of {sym_name} from {_when(series.index[0])} to {_when(series.index[-1])}: "
                    f"{_summary(series, onset_dt)}. Onset {_when(onset) if onset is not None else 'unknown'}, "
                    f"detected {_when(detected)}, change points: {cp_text}."
                ),
                uri=symptom_plot(series, onset_dt, detected, title=sym_name, change_points=cps),
            )
        )

    panels: list[tuple[str, pd.Series]] = []
    described: list[str] = []
    for h in result.hypotheses[:TOP_CAUSES]:
        s = _series(ctx, h.component, h.metric)
        if s.dropna().empty:
            continue
        title = f"#{h.rank} {_name(h.component, h.metric)} ({h.confidence:.0%})"
        panels.append((title, s))
        described.append(f"{title}: {_summary(s.dropna(), onset_dt)}")
    if panels:
        plots.append(
            Plot(
                caption="Candidate causes aligned in time",
                alt="Small multiples of the top hypotheses' metrics on the symptom's time axis. "
                + "; ".join(described)
                + ".",
                uri=cause_metrics_plot(panels, onset_dt, detected),
            )
        )

    top = result.top
    if ctx.system.topology.number_of_nodes() or ctx.lineage.number_of_nodes():
        suspected: list[str] = []
        if top is not None:
            suspected = [top.component]
            suspected += [
                n for n, c in ctx.lineage.nodes(data="component") if c == top.component and n not in suspected
            ]
        sym_nodes = [sym.component]
        sym_nodes += [n for n, c in ctx.lineage.nodes(data="component") if c == sym.component and n != sym.component]
        plots.append(
            Plot(
                caption="Topology and lineage",
                alt=(
                    f"Graphs of {ctx.system.topology.number_of_nodes()} components and {ctx.lineage.number_of_nodes()} "
                    f"lineage nodes; suspected (red): {', '.join(suspected) or 'none'}; "
                    f"alerting (amber): {', '.join(n for n in sym_nodes if n not in suspected) or 'same node'}."
                ),
                uri=graph_plot(ctx.system.topology.reverse(copy=False), ctx.lineage, suspected, sym_nodes),
            )
        )

    effects: dict[str, float] = {}
    for phase in result.phases:
        if phase.phase != PhaseName.MODEL_BEHAVIOUR:
            continue
        for f in phase.findings:
            effect = f.details.get("effect")
            if f.metric and isinstance(effect, int | float) and np.isfinite(effect):
                effects[f.metric] = max(effects.get(f.metric, 0.0), abs(float(effect)))
    if effects:
        top_effects = dict(sorted(effects.items(), key=lambda kv: -kv[1])[:TOP_FEATURES])
        plots.append(
            Plot(
                caption="Drift of the top features",
                alt="Bar chart of drift effect sizes: "
                + ", ".join(f"{k} {v:.3g}" for k, v in top_effects.items())
                + ".",
                uri=drift_plot(top_effects),
            )
        )
    return plots
