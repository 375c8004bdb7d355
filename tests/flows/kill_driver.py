"""Run the detection flow once, and SIGKILL this very process at a named step (``kill -9``, not an exception).

Usage: ``python kill_driver.py CONFIG AT [STEP]``. The step's function is wrapped so that the
process kills itself right after it did its work and before anything after it ran: the worst
moment, when the work is done but nobody recorded it. Prints the flow's result as JSON when it
gets to the end.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

#: step -> (module, function) where the kill happens, in the order a detection run passes them.
STEPS: dict[str, tuple[str, str]] = {
    "load": ("rcaflows.pipeline", "load_window"),  # sources read, nothing judged
    "detect": ("rcaflows.pipeline", "scan"),  # checks computed, nothing stored
    "persist": ("rcaflows.triage.service", "open_or_touch"),  # inside the first incident's transaction
    "notify": ("rcaflows.wiring", "notify_new_incident"),  # incident committed, its message just sent
    "rca": ("flows.rca", "synthesize"),  # RCA run recorded as running, phases done
    "report": ("flows.rca", "write_report"),  # report files written, the run not yet recorded
}


def kill_after(module_name: str, name: str) -> None:
    """Wrap ``module.name`` so the process SIGKILLs itself when the call returns."""
    module = importlib.import_module(module_name)
    fn: Callable[..., Any] = getattr(module, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return out  # never reached

    setattr(module, name, dying)


def main(argv: list[str]) -> None:
    config, at = argv[1], datetime.fromisoformat(argv[2])
    if len(argv) > 3:
        kill_after(*STEPS[argv[3]])
    from flows.detection import detection

    result = detection(config=config, at=at)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv)
