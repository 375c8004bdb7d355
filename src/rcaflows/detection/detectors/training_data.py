"""Training data: a great-expectations suite and a label-noise check on each training batch as it lands.

The batches are the ones ``model.training`` declares (:mod:`rcaflows.model.training`). A run
judges the batches that landed in its current window against every batch before them: the
expectation suite runs through the data-quality detector's great-expectations code path (one
process-wide ephemeral context, the same expectation builder, the same result-to-check mapping),
and the ``conflicting_labels`` signal of :mod:`rcaflows.detection.poisoning` tests the share of
near-identical inputs with different labels. Both open data-quality incidents on the training
node's component. The poisoning signals (flipped duplicates, a burst from one source) are the
security detector ``training_poisoning``'s. :func:`training_checks` is the one place both
detectors, and the lineage RCA phase (which judges the batch a served model version was trained
on), get their checks from.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from rcaflows.config.models import ExpectationSpec, ModelConfig, SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.base import CheckFactory, register, score_from_ratio, to_datetime
from rcaflows.detection.detectors.data_quality import DataQualityDetector, validate_suite
from rcaflows.detection.model_scope import for_model
from rcaflows.detection.models import CheckResult
from rcaflows.detection.poisoning import CONFLICTING_LABELS, FLIPPED_DUPLICATES, SOURCE_BURST, Signal, batch_signals
from rcaflows.errors import DataError
from rcaflows.model.training import TrainingBatch, batch_features, batch_label, load_training_batches
from rcaflows.vocab import CheckStatus, IncidentType

__all__ = [
    "POISONING_DETECTOR",
    "TRAINING_DETECTOR",
    "TrainingDataDetector",
    "landed_in",
    "training_batches",
    "training_checks",
    "training_component",
]

TRAINING_DETECTOR = "training_data"
POISONING_DETECTOR = "training_poisoning"
#: signal -> (incident type, detector) of its checks
SIGNAL_TYPES: dict[str, tuple[IncidentType, str]] = {
    CONFLICTING_LABELS: (IncidentType.DATA_QUALITY, TRAINING_DETECTOR),
    FLIPPED_DUPLICATES: (IncidentType.SECURITY_ADVERSARIAL, POISONING_DETECTOR),
    SOURCE_BURST: (IncidentType.SECURITY_ADVERSARIAL, POISONING_DETECTOR),
}
HEADLINES = {
    CONFLICTING_LABELS: "conflicting labels",
    FLIPPED_DUPLICATES: "duplicates with flipped labels",
    SOURCE_BURST: "burst from one source",
}

_CACHE_LOCK = threading.Lock()
_CACHE: dict[tuple[Any, ...], list[TrainingBatch]] = {}


def training_component(config: SystemConfig, model: ModelConfig) -> str:
    """Return the component of ``model``'s training checks: the training node's component, else the node's name."""
    assert model.training is not None
    node = model.training.node
    decl = next((n for n in config.lineage.nodes if n.name == node), None)
    return (decl.component if decl is not None else None) or node


def training_batches(model: ModelConfig, data: MonitoringData | Window | None = None) -> list[TrainingBatch]:
    """Return the model's training batches in landing order.

    Files (``training.path``) are read once per change of the matched files (name, size and
    modification time), so the two training detectors of one run and the RCA share one read;
    without a path the batches are the training node's rows in ``data`` (reference and current).

    Raises:
        DataError: a batch file that cannot be read, or a malformed batch (named with file and field).
    """
    training = model.training
    if training is None:
        return []
    if training.path is None:
        parts = [data.reference, data.current] if isinstance(data, Window) else [data] if data is not None else []
        frames = [p.batches[training.node] for p in parts if training.node in p.batches]
        frames = [f for f in frames if not f.empty]
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return load_training_batches(model, {training.node: rows})
    files = sorted(glob.glob(training.path, recursive=True))
    stats = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        stats.append((f, st.st_size, st.st_mtime_ns))
    key = (model.model_dump_json(include={"training", "features", "log"}), tuple(stats))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    batches = load_training_batches(model)
    with _CACHE_LOCK:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = batches
    return batches


def landed_in(batches: Iterable[TrainingBatch], start: datetime, end: datetime) -> list[str]:
    """Return the ids of the batches that landed in ``[start, end)``."""
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    return [b.id for b in batches if t0 <= b.landed_at < t1]


def _signal_check(make: CheckFactory, sig: Signal, comp: str, node: str, onset: Any) -> CheckResult:
    """Return the check of one signal on one batch."""
    headline = HEADLINES[sig.name]
    details: dict[str, Any] = {
        "node": node,
        "batch": sig.batch,
        "rows": sig.rows,
        "flagged": sig.count,
        "examples": sig.examples,
        "headline": f"batch {sig.batch}: {headline}",
        **sig.details,
    }
    if sig.skipped is not None:
        return make.no_data(
            comp, sig.name, sig.message, reason="insufficient", check=sig.name, metric=sig.name, details=details
        )
    rise = sig.share - (sig.baseline or 0.0)
    strength = score_from_ratio(rise / sig.threshold) if sig.threshold > 0 else 0.0
    return make(
        check=sig.name,
        subtype=sig.name,
        component=comp,
        metric=sig.name,
        status=CheckStatus.FAIL if sig.failed else CheckStatus.OK,
        statistic=sig.share,
        baseline=sig.baseline,
        threshold=sig.threshold,
        p_value=sig.p_value,
        score=max(0.5, strength) if sig.failed else min(0.49, max(strength, 0.0)),
        onset=onset if sig.failed else None,
        message=sig.message,
        details=details,
    )


def _suite_checks(
    make: CheckFactory, model: ModelConfig, batch: TrainingBatch, comp: str, onset: Any
) -> list[CheckResult]:
    """Run the training expectation suite on one batch through the data-quality detector's GX path."""
    assert model.training is not None
    specs: list[ExpectationSpec] = list(model.training.expectations)
    node = model.training.node
    where = f"{node} batch {batch.id}"
    df = batch.rows
    out, results = validate_suite(
        make,
        list(enumerate(specs)),
        df,
        where=where,
        comp=comp,
        suite_name=f"rcaflows_training_{node}",
        onset=onset,
        details={"node": node, "batch": batch.id},
        headline=f"batch {batch.id}: ",
    )
    if not results:
        return out
    dated = df.assign(timestamp=batch.landed_at)  # a training check dates from when its batch landed
    for r in results:
        spec = specs[int(r.expectation_config.meta["spec"])]
        chk = DataQualityDetector._expectation_check(make, where, comp, spec, r, dated, None)
        details = {**chk.details, "node": node, "batch": batch.id}
        details["headline"] = f"batch {batch.id}: {details.get('headline', '')}".rstrip(": ")
        out.append(chk.model_copy(update={"details": details}))
    return out


def training_checks(
    config: SystemConfig,
    model: ModelConfig,
    batches: list[TrainingBatch],
    targets: list[str],
    start: datetime,
    end: datetime,
    types: Iterable[IncidentType] = (IncidentType.DATA_QUALITY, IncidentType.SECURITY_ADVERSARIAL),
) -> list[CheckResult]:
    """Return the checks of the ``targets`` batches, each judged against the batches that landed before it.

    Args:
        config: the monitored system.
        model: the model whose training batches they are (it declares ``training``).
        batches: every training batch, in landing order (:func:`training_batches`).
        targets: ids of the batches to judge.
        start: start of the span the checks are reported for (their ``window_start``).
        end: its end.
        types: which checks: data quality (expectation suite, conflicting labels) and/or
            security (flipped duplicates, source burst).
    """
    if not targets or model.training is None:
        return []
    training = model.training
    wanted = set(types)
    span = MonitoringData(start=start, end=end)
    makers = {
        IncidentType.DATA_QUALITY: CheckFactory(TRAINING_DETECTOR, IncidentType.DATA_QUALITY, span),
        IncidentType.SECURITY_ADVERSARIAL: CheckFactory(POISONING_DETECTOR, IncidentType.SECURITY_ADVERSARIAL, span),
    }
    comp = training_component(config, model)
    label = batch_label(model)
    by_id = {b.id: b for b in batches}
    unknown = [t for t in targets if t not in by_id]
    if unknown:
        raise DataError(f"training batch(es) {unknown} not found; batches read: {list(by_id)}")
    out: list[CheckResult] = []
    # the signals compare each target with the batches before it; later batches play no part, and
    # batches without a label column can be neither judged nor compared with
    last = max(i for i, b in enumerate(batches) if b.id in set(targets))
    history = [b for b in batches[: last + 1] if label in b.rows.columns]
    unlabelled = [b.id for b in batches[: last + 1] if label not in b.rows.columns]
    features = batch_features(model)
    judged = [t for t in targets if t not in unlabelled]
    signals = _signals(model, history, judged) if judged else {}
    for bid in targets:
        batch = by_id[bid]
        onset = to_datetime(batch.landed_at)
        if IncidentType.DATA_QUALITY in wanted and training.expectations:
            out += _suite_checks(makers[IncidentType.DATA_QUALITY], model, batch, comp, onset)
        if bid in unlabelled:
            for itype in wanted & set(makers):
                out.append(
                    makers[itype].no_data(
                        comp,
                        "label",
                        f"{training.node} batch {bid}: label column '{label}' is missing (set model.training.label)",
                        check="label_signals",
                        metric=bid,
                        details={"node": training.node, "batch": bid},
                    )
                )
            continue
        absent = [f for f in features if f not in batch.rows.columns]
        for sig in signals.get(bid, []):
            itype, _ = SIGNAL_TYPES[sig.name]
            if itype not in wanted:
                continue
            chk = _signal_check(makers[itype], sig, comp, training.node, onset)
            if absent or unlabelled:
                extra = {"features_missing": absent, "batches_without_label": unlabelled}
                chk = chk.model_copy(update={"details": {**chk.details, **extra}})
            out.append(chk)
    return out


_SIGNALS_LOCK = threading.Lock()
_SIGNALS: list[tuple[list[TrainingBatch], tuple[str, ...], str, dict[str, list[Signal]]]] = []


def _signals(model: ModelConfig, history: list[TrainingBatch], targets: list[str]) -> dict[str, list[Signal]]:
    """Return the signals of ``targets`` over ``history``, computed once for both detectors of a run.

    Remembered by the identity of the batches (one cached read of the files) and the settings.
    """
    assert model.training is not None
    key = model.model_dump_json(include={"training", "features", "task", "log"})
    with _SIGNALS_LOCK:
        for frames, tgt, k, result in _SIGNALS:
            same = len(frames) == len(history) and all(a is b for a, b in zip(frames, history, strict=True))
            if same and tgt == tuple(targets) and k == key:
                return result
    training = model.training
    result = batch_signals(
        [b.rows for b in history],
        [b.id for b in history],
        targets,
        features=batch_features(model),
        label=batch_label(model),
        regression=model.task == "regression",
        settings=training.signals,
        source_column=training.source_column,
        id_column=training.id_column,
    )
    with _SIGNALS_LOCK:
        _SIGNALS.append((history, tuple(targets), key, result))
        del _SIGNALS[:-4]
    return result


def run_training(window: Window, config: SystemConfig, itype: IncidentType, name: str) -> list[CheckResult]:
    """Return one training detector's checks over ``window`` for every model: the batches that landed, or why none.

    A system without a model has nothing to train, and gives no check (as the other model detectors).
    """
    make = CheckFactory(name, itype, window.current)
    out: list[CheckResult] = []
    for model in config.models:
        out += for_model(_model_training(make, window, config, model, itype), model, config)
    return out


def _model_training(
    make: CheckFactory, window: Window, config: SystemConfig, model: ModelConfig, itype: IncidentType
) -> list[CheckResult]:
    """Return one model's training checks over ``window``."""
    if model.training is None:
        return [
            make.no_data(
                model.component,
                "training_batch",
                "no training batches declared (model.training)",
                check="training_batches",
            )
        ]
    comp = training_component(config, model)
    try:
        batches = training_batches(model, window)
    except DataError as exc:
        return [
            make.no_data(
                comp,
                "training_batch",
                f"training batches unreadable: {exc}",
                reason="unreadable",
                check="training_batches",
                details={"node": model.training.node},
            )
        ]
    targets = landed_in(batches, window.current.start, window.current.end)
    if not targets:
        where = model.training.path or f"lineage node {model.training.node}"
        return [
            make.no_data(
                comp,
                "training_batch",
                f"no training batch landed in this window ({where})",
                check="training_batches",
                details={"node": model.training.node, "batches_read": len(batches)},
            )
        ]
    return training_checks(config, model, batches, targets, window.current.start, window.current.end, types=(itype,))


@register
class TrainingDataDetector:
    """The expectation suite and the conflicting-label share of each training batch that landed in the window."""

    name = TRAINING_DETECTOR
    incident_type = IncidentType.DATA_QUALITY
    scope = "frames"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return the data-quality checks of the training batches that landed in the current window."""
        return run_training(window, config, self.incident_type, self.name)
