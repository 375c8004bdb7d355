"""Decisions that keep detection quiet: FDR control across a run, the pending rule, inhibition.

False-discovery rate (:func:`apply_fdr`)
    Every check of one run that carries evidence of significance joins one family: checks with a
    ``p_value``, and robust-shift checks whose robust z is turned into a one-sided p-value with
    the normal tail, ``p = 1 - Φ(z)`` in the check's bad direction. The normal tail is used,
    rather than a heavy-tailed one, because the robust z already divides by a MAD-based scale
    (floored per metric kind) and a shift must also last ``sustain`` minutes and pass the
    detector's relative-change threshold; the p-value only ranks the run's evidence for the
    Benjamini-Hochberg step. A check fails only when its detector's effect threshold passed
    (its status is ``fail``) **and** its BH-adjusted p is below ``detectors.fdr_alpha``; a
    failing check that misses the adjusted level is downgraded to ``warn``. Checks with neither
    a p-value nor a robust z (expectations, burn rates, group gaps) keep their status.

Pending (:func:`pending_ready`)
    An incident opens once its fingerprint failed in ``M`` of the last ``N`` runs (the current
    run included), Prometheus' ``for:`` made count-based so missed runs do not reset it.

Inhibition (:func:`inhibitor`)
    A data-quality incident (pipeline metrics, expectations, drift) or a missing-data dependency
    incident explains the model-quality and bias incidents of components downstream of it in the
    cause graph (topology plus lineage), Alertmanager's ``inhibit_rules`` with the graph as the
    ``equal:`` clause.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.special import ndtr

from rcaflows.detection.models import CheckResult
from rcaflows.detection.stats import bh_adjust
from rcaflows.vocab import CheckStatus, IncidentType

#: Incident types whose incidents may suppress downstream ones.
INHIBITING_TYPES: frozenset[IncidentType] = frozenset({IncidentType.DATA_QUALITY})
#: Subtypes of an integration-dependency incident that mean missing or late data.
MISSING_DATA_SUBTYPES: frozenset[str] = frozenset({"freshness", "row_count", "missing", "late"})
#: Incident types that inhibition may suppress.
INHIBITED_TYPES: frozenset[IncidentType] = frozenset({IncidentType.QUALITY_DEGRADATION, IncidentType.BIAS_FAIRNESS})


def check_p_value(check: CheckResult) -> float:
    """Return the check's p-value for the FDR family, or NaN when it has none.

    Robust-shift checks carry a robust z and a direction in ``details``; their p-value is the
    one-sided normal tail in the bad direction (both tails, doubled, when either is bad).
    """
    if check.status not in (CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL):
        return math.nan
    if check.p_value is not None and math.isfinite(check.p_value):
        return min(max(float(check.p_value), 0.0), 1.0)
    z = check.details.get("robust_z") if isinstance(check.details, dict) else None
    if z is None or not isinstance(z, int | float) or not math.isfinite(z):
        return math.nan
    direction = int(check.details.get("direction", 1) or 0)
    if direction == 0:
        return float(min(1.0, 2.0 * ndtr(-abs(z))))
    return float(ndtr(-direction * z))


@dataclass(frozen=True)
class FdrResult:
    """Checks after FDR control, with how many failures it demoted."""

    checks: list[CheckResult]
    tested: int
    demoted: int


def apply_fdr(checks: Sequence[CheckResult], alpha: float) -> FdrResult:
    """Benjamini-Hochberg adjust the run's p-values; demote failing checks with ``q >= alpha`` to warn.

    Every check in the family gets ``details['fdr_q']`` only when it fails or is demoted (cheap
    on thousands of passing checks); a demoted check also gets ``details['fdr_demoted'] = True``.
    """
    p = np.array([check_p_value(c) for c in checks], dtype=float)
    tested = int(np.sum(~np.isnan(p)))
    if tested == 0:
        return FdrResult(list(checks), 0, 0)
    q = bh_adjust(p)
    out: list[CheckResult] = []
    demoted = 0
    for c, qi in zip(checks, q, strict=True):
        if c.status != CheckStatus.FAIL or math.isnan(qi):
            out.append(c)
            continue
        details = {**c.details, "fdr_q": float(qi), "fdr_alpha": alpha, "fdr_tested": tested}
        if qi < alpha:
            out.append(c.model_copy(update={"details": details}))
            continue
        demoted += 1
        details["fdr_demoted"] = True
        out.append(
            c.model_copy(
                update={
                    "status": CheckStatus.WARN,
                    "score": min(c.score, 0.49),
                    "details": details,
                    "message": f"{c.message} [held back: BH-adjusted p {qi:.2g} >= {alpha:g} over {tested} tests]",
                }
            )
        )
    return FdrResult(out, tested, demoted)


def pending_ready(history: Sequence[bool], failures: int, runs: int) -> bool:
    """Return True when at least ``failures`` of the last ``runs`` entries (newest last) failed."""
    return sum(bool(h) for h in list(history)[-runs:]) >= failures


def can_inhibit(incident_type: IncidentType | str, subtype: str) -> bool:
    """Return True when an incident of this type and subtype may suppress downstream model incidents."""
    t = IncidentType(incident_type)
    return t in INHIBITING_TYPES or (t == IncidentType.INTEGRATION_DEPENDENCY and subtype in MISSING_DATA_SUBTYPES)


def can_be_inhibited(incident_type: IncidentType | str) -> bool:
    """Return True for the incident types inhibition may suppress (model quality, bias)."""
    return IncidentType(incident_type) in INHIBITED_TYPES


@dataclass(frozen=True)
class Inhibitor:
    """An incident that may explain others: its key, type, subtype and failing components."""

    key: str
    incident_type: str
    subtype: str
    components: tuple[str, ...]


def inhibitor(
    incident_type: IncidentType | str,
    components: Iterable[str],
    inhibitors: Sequence[Inhibitor],
    graph: nx.DiGraph,
) -> Inhibitor | None:
    """Return the first inhibitor that explains a candidate of ``incident_type`` on ``components``.

    An inhibitor explains the candidate when one of its components is one of the candidate's or
    upstream of it in ``graph`` (edges point upstream -> downstream).
    """
    if not can_be_inhibited(incident_type):
        return None
    targets = set(components)
    for inh in inhibitors:
        for comp in inh.components:
            if comp in targets:
                return inh
            if comp in graph and targets & nx.descendants(graph, comp):
                return inh
    return None
