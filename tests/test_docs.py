"""Every command in README.md and docs/*.md runs as written (``tests/docs_check.py``).

The commands run in three workspaces (``docs_check.GROUPS``), one test file each, so that
``-n auto`` runs them at once: here the train, compare and export commands of the README,
apps, export and training docs; ``test_docs_ray.py`` the Ray sweeps; ``test_docs_other.py``
the other docs. Within one, the commands run in document order (README first, then docs/
by name), so that a command finds what the commands before it made, as a reader following
the docs would. Budgets are shortened; nothing else about a command changes.
"""

from __future__ import annotations

import re

import pytest

from tests.docs_check import (
    COVERED_ELSEWHERE,
    DOCS,
    GROUPS,
    REPO,
    DocCommand,
    Workspace,
    all_commands,
    check_command,
    extract,
    group_of,
    has_rule,
    segments,
)

COMMANDS = all_commands()
RUNNABLE = [c for c in COMMANDS if segments(c)[0]]
TRAIN = [c for c in RUNNABLE if group_of(c) == "train"]


def test_the_docs_have_commands_and_each_one_is_run_or_covered():
    assert len(COMMANDS) > 40
    for cmd in COMMANDS:
        run, covered = segments(cmd)
        assert run or covered, cmd
    covered_prefixes = {p for c in COMMANDS for p in segments(c)[1]}
    for prefix in COVERED_ELSEWHERE:  # an entry no command needs any more is stale
        assert any(p.startswith(prefix) for p in covered_prefixes), prefix


def test_every_runnable_command_is_a_known_program():
    """A new program in the docs needs a rule: how to shorten it, or that it runs as is."""
    for cmd in RUNNABLE:
        if cmd.kind == "bash":
            for part in segments(cmd)[0]:
                assert has_rule(part), f"{cmd.where}: no rule for `{part}` in tests/docs_check.py"


def test_extract_reads_fences_continuations_comments_and_inline_spans(tmp_path, monkeypatch):
    doc = tmp_path / "x.md"
    doc.write_text(
        "Run `pacegym-simulate --scenario mine` or `pacegym-train` (a name).\n"
        "```bash\n"
        "pacegym-train a=1   # a comment\n"
        "python -m pacegym.experiments.sweep_ray --num-cpus 2 \\\n"
        "    b='x # not a comment'\n"
        "# only a comment\n"
        "```\n"
        "```python\nimport pacegym\nprint(1)\n```\n"
        "```text\npacegym-train in a text block\n```\n"
        'Then `gym.make(id, scenario="mine")`.\n'
    )
    monkeypatch.setattr("tests.docs_check.REPO", tmp_path)
    got = [(c.kind, c.text) for c in extract(doc)]
    assert got == [
        ("bash", "pacegym-simulate --scenario mine"),
        ("bash", "pacegym-train a=1"),
        ("bash", "python -m pacegym.experiments.sweep_ray --num-cpus 2 b='x # not a comment'"),
        ("python", "import pacegym\nprint(1)"),
        ("python-expr", 'gym.make(id, scenario="mine")'),
    ]


def test_relative_links_in_the_docs_resolve_in_a_clone():
    """No link to files a clone does not have (``../shared/DESIGN.md`` was one)."""
    for doc in DOCS:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: link to {target}"
        assert "../shared/" not in text, doc.name
    for folder in ("pacegym", "envs", "baselines", "agents", "experiments", "conf"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".yaml"):  # nor a reference to the design brief
                assert "DESIGN.md" not in path.read_text(), path


README_MAX_BYTES = 15_000
"""The README is read in ten minutes: what pacegym is, the install, the quick start and
where to go next; everything else lives in docs/ (issue 24)."""


def test_the_readme_is_short_and_links_every_docs_page():
    readme = REPO / "README.md"
    assert readme.stat().st_size < README_MAX_BYTES, readme.stat().st_size
    linked = {
        target.split("#", 1)[0]
        for target in re.findall(r"\]\(([^)]+)\)", readme.read_text())
        if "://" not in target
    }
    pages = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    for target in sorted(linked):
        assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("docs"))
    yield ws
    ws.close()


@pytest.mark.slow
@pytest.mark.parametrize("cmd", TRAIN, ids=[c.id for c in TRAIN])
def test_documented_command_runs(cmd: DocCommand, workspace: Workspace):
    check_command(cmd, workspace)


def test_each_runnable_command_is_in_one_workspace_with_what_it_reads():
    """The three test files together run every command; a command that reads an earlier
    one's output (a placeholder) is in the train workspace, with the commands making it."""
    assert {group_of(c) for c in RUNNABLE} == set(GROUPS)
    for cmd in RUNNABLE:
        if re.search(r"<(time|date|sac run|train run id)>|shaped_[AB]", cmd.text):
            assert group_of(cmd) == "train", cmd.id


def test_the_doc_check_covers_the_issue_examples():
    """The commands that failed as written before the doc-check are among those it runs."""
    texts = [c.text for c in RUNNABLE]
    for needle in (
        "'+train.randomize=",
        "pacegym-train train.resume=outputs/train/<",
        "pacegym-simulate --scenario calibrated_mine",
        'gym.make(id, scenario="calibrated_mine")',
        "pacegym-evaluate experiment=seed_live_commerce",  # tracked by default
        "source.model_path=outputs/train/<time>/model",
        "python -m pacegym.experiments.sweep_ray --experiment sweep_ppo_live --num-cpus 2",
        "mlflow ui --backend-store-uri sqlite:///mlflow.db",
    ):
        assert any(needle in t for t in texts), needle
    assert any(t.strip() == "pacegym-export" for t in texts)  # bare, as documented
    assert (REPO / "README.md") in DOCS
