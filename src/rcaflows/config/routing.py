"""Static checks of the routing rules a config declares: what a match covers, and rules that can never match.

The loader runs :func:`unreachable_rules` while validating a config (a shadowed rule is a
config error); :mod:`rcaflows.triage.policy` applies the rules to incidents and reuses
:func:`describe_match` to explain its choice. Both sit on the config's models, so the config
layer needs nothing from triage.
"""

from __future__ import annotations

from collections.abc import Sequence

from rcaflows.config.models import RouteMatch, RouteRule


def describe_match(m: RouteMatch) -> str:
    """Return the conditions of a rule's match as one readable line."""
    parts = [f"type in {[str(t) for t in m.type]}"] if m.type else []
    parts += [f"subtype in {m.subtype}"] if m.subtype else []
    parts += [f"component in {m.component}"] if m.component else []
    parts += [f"severity >= {m.min_severity}"] if m.min_severity is not None else []
    return ", ".join(parts) or "no conditions (matches anything)"


def covers(a: RouteMatch, b: RouteMatch) -> bool:
    """Return True when every incident ``b`` matches is matched by ``a`` too."""
    for attr in ("type", "subtype", "component"):
        av, bv = getattr(a, attr), getattr(b, attr)
        if av and (not bv or not set(bv) <= set(av)):
            return False
    if a.min_severity is None:
        return True
    return b.min_severity is not None and b.min_severity.rank <= a.min_severity.rank


def unreachable_rules(rules: Sequence[RouteRule]) -> list[tuple[int, str]]:
    """Return (index, why) for every routing rule an earlier rule always wins over, so it can never match."""
    out = []
    for j, later in enumerate(rules):
        for i in range(j):
            if covers(rules[i].match, later.match):
                out.append(
                    (
                        j,
                        f"routing rule {later.name!r} can never match: the earlier rule {rules[i].name!r} "
                        f"({describe_match(rules[i].match)}) matches everything it does; reorder or narrow them",
                    )
                )
                break
    return out
