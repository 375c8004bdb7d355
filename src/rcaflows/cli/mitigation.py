"""``rcaflows incidents mitigate INC --action NAME [--yes]``: approve and run runbook actions from the shell.

The same steps as the ``mitigate`` flow's approval form (:mod:`rcaflows.mitigation.service`):
propose the runbook's actions (idempotent), approve or reject the named ones, run the approved
ones once. A refused decision (already decided by someone else, the incident no longer open) is
reported and exits 1; the refusal is in the audit log.
"""

from __future__ import annotations

import typer

from rcaflows.cli import _common
from rcaflows.cli._common import fail, open_store
from rcaflows.errors import RcaflowsError


def mitigate_actions(
    incident: str, names: list[str], actor: str, *, yes: bool, reject: bool, config: str | None, store: str | None
) -> None:
    """Propose the incident's runbook actions, decide on ``names`` (after confirmation unless ``yes``), run them."""
    from rcaflows.config import load_config
    from rcaflows.incidents import get_incident
    from rcaflows.mitigation.service import action_dict, actions_of, decide, evidence_markdown, propose, run_approved

    try:
        cfg = load_config(config)
        st = open_store(config, store)
        with st.session() as s:
            hyp, rows = propose(s, cfg, incident, actor)
            key = get_incident(s, incident).key
            text = evidence_markdown(key, hyp, rows)
            known = {r.name for r in rows}
        unknown = [n for n in names if n not in known]
        if unknown:
            fail(
                RcaflowsError(
                    f"{key}: no proposed action {', '.join(unknown)}; its actions: {', '.join(sorted(known))}"
                )
            )
        _common.console.print(text, markup=False, highlight=False)
        verb = "reject" if reject else "approve and run"
        if not yes and not typer.confirm(f"{verb} {', '.join(names)} on {key}?", default=False):
            _common.err.print("nothing done (not confirmed); pass --yes to skip the question", markup=False)
            raise typer.Exit(1)
        refusals = []
        for name in names:
            with st.session() as s:
                out = decide(s, key, name, actor, approve=not reject)
            if out.refused:
                refusals.append(out.refused)
        outcomes = [] if reject else run_approved(st, cfg, key, actor)
        with st.session(readonly=True) as s:
            final = {a.name: action_dict(a) for a in actions_of(s, key)}
    except RcaflowsError as exc:
        fail(exc)
    for name in names:
        a = final[name]
        extra = f" flow run {a['flow_run_id']}" if a["flow_run_id"] else ""
        error = f": {a['error']}" if a["error"] else ""
        _common.console.print(f"{key} {name}: {a['status']}{extra}{error}", markup=False, highlight=False)
    for o in outcomes:
        if o.refused and o.action not in names:
            refusals.append(o.refused)
    if refusals or any(final[n]["status"] == "failed" for n in names):
        for r in refusals:
            _common.err.print(f"refused: {r}", markup=False, highlight=False)
        raise typer.Exit(1)
