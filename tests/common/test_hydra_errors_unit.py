"""The command line's config groups as the early option check sees them (no Hydra run)."""

from pathlib import Path

import pytest

from robustlab.common.errors import ConfigError
from robustlab.common.hydra_app import all_config_groups, config_dir, config_groups
from robustlab.common.hydra_errors import check_group_options, user_config_dirs


def test_config_dir_flags_in_both_spellings_are_found_and_a_search_path_turns_the_check_off():
    assert user_config_dirs(["--config-dir", "a", "-cd=b", "model=x"]) == [Path("a"), Path("b")]
    assert user_config_dirs(["--config-dir=c"]) == [Path("c")]
    assert user_config_dirs(["hydra.searchpath=[pkg://x]", "model=x"]) is None


def test_an_option_of_a_user_config_dir_is_known_and_a_misspelt_one_still_refused(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\n")
    groups = all_config_groups(config_dir(), "radiomics", [tmp_path])
    assert "mine" in groups["experiment"] and set(config_groups(config_dir(), "radiomics")["experiment"]) < set(
        groups["experiment"])
    check_group_options(["experiment=mine"], groups)
    with pytest.raises(ConfigError, match=r"^experiment: unknown option 'mien'; did you mean mine\?"):
        check_group_options(["experiment=mien"], groups)


def test_a_project_error_is_one_line_whatever_a_value_brought_in():
    from robustlab.common.config import from_dict, key_path
    from robustlab.common.errors import DataError

    assert str(DataError("file a\nb.csv: unreadable")) == "file a\\nb.csv: unreadable"
    assert key_path("scanners", "\n") == "scanners['\\n']" and key_path("scanners", "A15") == "scanners.A15"

    from dataclasses import dataclass

    @dataclass
    class Doc:
        scanners: dict[str, str]

    with pytest.raises(ConfigError) as caught:  # the fuzzer's finding: a key "\n" with a null value
        from_dict(Doc, {"scanners": {"\n": None}})
    assert "\n" not in str(caught.value) and str(caught.value).startswith("scanners['\\n']: ")
