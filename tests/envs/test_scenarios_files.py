"""Scenario files: a bad file is refused in one line naming it, never quoting its content."""

import pytest

from pacegym.envs import ScenarioError
from pacegym.envs.scenarios import from_file, resolve


def test_a_loop_of_bases_is_refused_naming_it(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"base: {b}\n")
    b.write_text(f"base: {a}\n")
    with pytest.raises(
        ScenarioError,
        match=r"^base = .*a\.yaml': a loop of bases \(.*a\.yaml -> .*b\.yaml -> .*a\.yaml\)$",
    ):
        from_file(a)
    c = tmp_path / "c.yaml"
    c.write_text(f"base: {c}\n")  # a file based on itself
    with pytest.raises(ScenarioError, match="a loop of bases"):
        resolve(str(c))


@pytest.mark.parametrize("value", ["5", "[daily_budget]", "{a: 1}", "''"])
def test_a_base_that_is_not_a_name_is_refused(tmp_path, value):
    f = tmp_path / "s.yaml"
    f.write_text(f"base: {value}\n")
    with pytest.raises(ScenarioError, match=r"^base = .*: allowed a scenario name or a path"):
        from_file(f)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"\xff\xfe\x00money: {}\n", r"not UTF-8 text \(byte 0\)"),
        (b"money: {budget: hunter2\n", r"not valid YAML at line 2, column 1$"),
        (b"SECRET_TOKEN=hunter2\n", r"the file must hold a mapping of sections"),
    ],
)
def test_an_unreadable_file_is_refused_without_quoting_it(tmp_path, content, pattern):
    f = tmp_path / "s.yaml"
    f.write_bytes(content)
    with pytest.raises(ScenarioError, match=pattern) as err:
        from_file(f)
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)


def test_a_chain_of_bases_still_composes(tmp_path):
    """daily_budget <- mid.yaml <- top.yaml: each file's keys over its base's."""
    mid, top = tmp_path / "mid.yaml", tmp_path / "top.yaml"
    mid.write_text("base: daily_budget\nmoney: {budget: 12345}\n")
    top.write_text(f"base: {mid}\nserving: {{fill_rate: 0.25}}\n")
    sc = from_file(top)
    assert sc.money.budget == 12345 and sc.serving.fill_rate == 0.25
    assert sc.time == resolve("daily_budget").time
