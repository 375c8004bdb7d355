"""Post-mortems people edit: human sections survive refreshes, draft → review → published is guarded and audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import fsspec
import pytest
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.demo import demo_config
from rcaflows.errors import RcaflowsError, TransitionError
from rcaflows.incidents import Action, EventKind, Store, events, transition
from rcaflows.postmortem import PostmortemState, build_postmortem, postmortem_state, write_postmortem

runner = CliRunner()
FACTORS = "The ETL retry hid the schema change for two runs.\n\n| not a table | <b>kept as written</b>"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=220, soft_wrap=True))


def _fill(md: str, name: str, text: str) -> str:
    """Write ``text`` into the human section ``name`` as a person would (between its markers)."""
    head, rest = md.split(f"<!-- rcaflows:human {name} -->\n", 1)
    _, tail = rest.split(f"<!-- /rcaflows:human {name} -->", 1)
    return f"{head}<!-- rcaflows:human {name} -->\n{text}\n<!-- /rcaflows:human {name} -->{tail}"


def test_human_sections_survive_refreshes_and_the_review_cycle(
    store: Store, make_incident: Callable[..., str], tmp_path: Path
) -> None:
    key = make_incident()
    out = tmp_path / "pm"
    pm, paths = write_postmortem(store, key, out, count_predictions=False)
    md_path = Path(paths.markdown)
    first = md_path.read_text(encoding="utf-8")
    assert pm.postmortem_state == "draft" and first.startswith(f"# Post-mortem (draft): {key}")
    assert "## Contributing factors" in first and "<!-- rcaflows:human lessons -->" in first
    assert first.index("## Decisions") < first.index("## Action items")
    edited = _fill(_fill(first, "contributing_factors", FACTORS), "lessons", "Contracts on every feed.")
    edited += (
        "\n<!-- rcaflows:human timeline_notes -->\nAlice joined at 10:05.\n<!-- /rcaflows:human timeline_notes -->\n"
    )
    md_path.write_text(edited, encoding="utf-8")

    pm, paths = write_postmortem(store, key, out, count_predictions=False)  # a refresh
    again = md_path.read_text(encoding="utf-8")
    assert FACTORS in again and "Contracts on every feed." in again and "Alice joined at 10:05." in again
    assert pm.human["contributing_factors"] == FACTORS and pm.human["timeline_notes"] == "Alice joined at 10:05."
    html = Path(paths.html).read_text(encoding="utf-8")
    assert "&lt;b&gt;kept as written&lt;/b&gt;" in html and "<b>kept" not in html  # escaped in HTML

    url = str(store.url.render_as_string(hide_password=False))
    common = ["--store", url, "--out", str(out), "--no-count-predictions", "--no-notify"]
    res = runner.invoke(cli.app, ["postmortem", key, *common, "--state", "published"])
    assert res.exit_code == 2 and "it can move to review, not published" in res.output
    res = runner.invoke(cli.app, ["postmortem", key, *common, "--state", "review", "--by", "user:bob"])
    assert res.exit_code == 0, res.output
    assert "post-mortem in review" in res.output
    assert md_path.read_text(encoding="utf-8").startswith(f"# Post-mortem (in review): {key}")
    res = runner.invoke(cli.app, ["postmortem", key, *common, "--state", "published", "--by", "user:carol"])
    assert res.exit_code == 0, res.output
    published = md_path.read_text(encoding="utf-8")
    assert published.startswith(f"# Post-mortem (published): {key}") and FACTORS in published

    # Published is frozen: a refresh is refused and the document is left as it was.
    res = runner.invoke(cli.app, ["postmortem", key, *common])
    assert res.exit_code == 2 and "published and frozen" in res.output
    assert md_path.read_text(encoding="utf-8") == published
    with store.session(readonly=True) as s:
        moves = [
            (e.actor, e.payload["from"], e.payload["postmortem_state"])
            for e in events(s, key)
            if e.kind is EventKind.REPORT and "from" in e.payload
        ]
        assert postmortem_state(s, key) is PostmortemState.PUBLISHED
        timeline = [t.summary for t in build_postmortem(s, key, count_predictions=False).timeline]
    assert moves == [("user:bob", "draft", "review"), ("user:carol", "review", "published")]
    assert "post-mortem draft → review" in timeline and "post-mortem review → published" in timeline

    # New facts: the incident is reopened and resolved again; the post-mortem goes back to review by itself.
    with store.session() as s:
        transition(s, key, Action.REOPEN, "user:alice", comment="it came back")
        transition(s, key, Action.RESOLVE, "user:alice", resolution="fixed")
    pm, _ = write_postmortem(store, key, out, count_predictions=False)
    assert pm.postmortem_state == "review" and pm.human["contributing_factors"] == FACTORS
    with store.session(readonly=True) as s:
        last = [e for e in events(s, key) if e.kind is EventKind.REPORT and "from" in e.payload][-1]
    assert (last.payload["from"], last.payload["comment"]) == ("published", "resolved again after publication")


def test_bad_markers_and_bad_moves_are_refused(store: Store, make_incident: Callable[..., str], tmp_path: Path) -> None:
    key = make_incident()
    open_key = make_incident("geo_api", resolve=False)
    with pytest.raises(TransitionError, match="no post-mortem draft yet"), store.session() as s:
        from rcaflows.postmortem import move_postmortem

        move_postmortem(s, key, "review", "user:bob")
    _, paths = write_postmortem(store, key, tmp_path, count_predictions=False)
    md_path = Path(paths.markdown)
    broken = md_path.read_text(encoding="utf-8").replace("<!-- /rcaflows:human lessons -->", "", 1)
    md_path.write_text(broken, encoding="utf-8")
    line = broken.splitlines().index("<!-- rcaflows:human decisions -->") + 1
    with pytest.raises(RcaflowsError, match=rf"{key}-postmortem\.md:{line}: human section 'decisions' opens inside"):
        write_postmortem(store, key, tmp_path, count_predictions=False)
    assert md_path.read_text(encoding="utf-8") == broken  # nothing was overwritten
    unclosed = broken.replace("<!-- rcaflows:human lessons -->", "").replace("<!-- /rcaflows:human decisions -->", "")
    md_path.write_text(unclosed, encoding="utf-8")
    line = unclosed.splitlines().index("<!-- rcaflows:human decisions -->") + 1
    with pytest.raises(RcaflowsError, match=rf"{key}-postmortem\.md:{line}: human section 'decisions' is never closed"):
        write_postmortem(store, key, tmp_path, count_predictions=False)

    write_postmortem(store, open_key, tmp_path, count_predictions=False)
    write_postmortem(store, open_key, tmp_path, count_predictions=False, state="review")
    with pytest.raises(TransitionError, match="published once the incident is resolved"):
        write_postmortem(store, open_key, tmp_path, count_predictions=False, state="published")
    with pytest.raises(ValueError, match="unknown post-mortem state 'final'"):
        write_postmortem(store, open_key, tmp_path, count_predictions=False, state="final")


def test_drafts_go_to_an_object_storage_url_and_keep_their_human_sections(
    store: Store, make_incident: Callable[..., str], tmp_path: Path
) -> None:
    key = make_incident()
    root = f"memory://{tmp_path.name}/reports"  # the memory filesystem is shared by the whole process
    _, paths = write_postmortem(store, key, root, count_predictions=False)
    assert str(paths.markdown).startswith("memory://")
    assert str(paths.markdown).endswith(f"{tmp_path.name}/reports/{key}-postmortem.md")
    assert str(paths.html).endswith(f"{key}-postmortem.html")
    fs, path = fsspec.core.url_to_fs(str(paths.markdown))
    text = fs.cat_file(path).decode()
    fs.pipe_file(path, _fill(text, "decisions", "Roll back first, debug second.").encode())
    pm, _ = write_postmortem(store, key, root, count_predictions=False)
    assert pm.human["decisions"] == "Roll back first, debug second."
    assert "Roll back first, debug second." in fs.cat_file(path).decode()
    with store.session(readonly=True) as s:
        report = [e for e in events(s, key) if e.kind is EventKind.REPORT][-1]
    assert report.payload["postmortem"] == str(paths.markdown)


def test_late_detection_asks_for_a_check(store: Store, make_incident: Callable[..., str]) -> None:
    """The fixture's incident was detected 15 min after its onset: late against a 10 min target only."""
    cfg = demo_config()
    strict = cfg.model_copy(update={"learning": cfg.learning.model_copy(update={"ttd_target": timedelta(minutes=10)})})
    key, other = make_incident(), make_incident("geo_api")
    with store.session() as s:
        pm = build_postmortem(s, key, config=strict, count_predictions=False)
        relaxed = build_postmortem(s, other, config=cfg, count_predictions=False)
    late = [a for a in pm.actions if a.source == "postmortem:late_detection"]
    assert len(late) == 1 and "detected 15m" in late[0].title and "target 10m" in late[0].title
    assert "geo_api" not in late[0].title and "feature_store" in late[0].title
    assert not [a for a in relaxed.actions if a.source == "postmortem:late_detection"]
