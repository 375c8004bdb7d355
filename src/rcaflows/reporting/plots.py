"""Small inline plots for the HTML report, as base64 PNG data URIs (no files, no pyplot state)."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rcaflows.errors import EmptyWindowError


def symptom_plot(
    series: pd.Series,
    onset: datetime | None,
    detected_at: datetime | None,
    *,
    title: str | None = None,
) -> str:
    """Plot the symptom metric with its onset and detection time marked.

    Args:
        series: Metric values indexed by timestamp.
        onset: When the deviation started (dashed line), if known.
        detected_at: When the incident was detected (solid line), if known.
        title: Plot title; defaults to the series name.

    Returns:
        A ``data:image/png;base64,...`` URI to pass to :func:`rcaflows.reporting.render_html` in ``plots``.

    Raises:
        EmptyWindowError: if the series holds no values to plot.
    """
    values = series.dropna()
    if values.empty:
        raise EmptyWindowError(f"cannot plot symptom {series.name!r}: the series holds no values")
    # A bare Figure on the Agg canvas: thread-safe, and never touches the global pyplot backend.
    fig = Figure(figsize=(7.0, 2.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(pd.DatetimeIndex(values.index).to_pydatetime(), values.to_numpy(), color="#2457a6", lw=1.3)
    if onset is not None:
        ax.axvline(mdates.date2num(onset), color="#8a5a00", ls="--", lw=1.1, label="onset")
    if detected_at is not None:
        ax.axvline(mdates.date2num(detected_at), color="#a3221b", ls="-", lw=1.1, label="detected")
    if onset is not None or detected_at is not None:
        ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_title(title if title is not None else str(series.name or ""), fontsize=9, loc="left")
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
