from __future__ import annotations

from pathlib import Path

import pytest

from scaleserve.errors import ConfigError
from scaleserve.model.loader import load_specs, load_targets

FIXTURES = Path(__file__).parents[1] / "fixtures"

TWO_MODELS = """
import scaleserve

class First(scaleserve.Model):
    def predict(self, batch: list[str]) -> list[str]:
        return batch

class Second(scaleserve.Model):
    name = "second-model"
    def predict(self, batch: list[int]) -> list[int]:
        return batch
"""


def test_directory_target_loads_app_py_in_definition_order(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(TWO_MODELS)
    assert [s.name for s in load_specs(str(tmp_path))] == ["first", "second-model"]


def test_class_selector_picks_one_model(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(TWO_MODELS)
    assert [s.name for s in load_specs(f"{tmp_path}:Second")] == ["second-model"]


def test_models_list_wins_over_discovery(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(TWO_MODELS + "\nmodels = [Second]\n")
    assert [s.name for s in load_specs(str(tmp_path))] == ["second-model"]


def test_fixture_app_declares_the_test_models() -> None:
    names = [s.name for s in load_specs(str(FIXTURES / "app.py"))]
    assert names == ["probe", "double", "narrow", "liar"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "declares no scaleserve.Model"),
        (TWO_MODELS.replace('name = "second-model"', 'name = "first"'), "two models named"),
    ],
)
def test_bad_targets_say_what_is_wrong(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "app.py").write_text(source)
    with pytest.raises(ConfigError, match=message):
        load_specs(str(tmp_path))


def test_missing_target_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_specs(str(tmp_path / "nothing"))


def test_several_targets_are_served_together(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "app.py").write_text(TWO_MODELS)
    specs = load_targets([str(tmp_path / "a"), str(FIXTURES / "app.py:Double")])
    assert [s.name for s in specs] == ["first", "second-model", "double"]
    assert [s.target for s in specs] == [str(tmp_path / "a")] * 2 + [f"{FIXTURES}/app.py:Double"]


def test_a_name_declared_by_two_targets_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "app.py").write_text(TWO_MODELS)
    (tmp_path / "b.py").write_text(TWO_MODELS.replace("class First", "class Other"))
    with pytest.raises(ConfigError, match="two models named 'second-model'"):
        load_targets([str(tmp_path / "a"), str(tmp_path / "b.py")])


def test_a_fallback_may_be_a_model_of_another_target(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text(
        "import scaleserve\n"
        "class Big(scaleserve.Model):\n"
        "    fallback = 'small'\n"
        "    def predict(self, batch: list[str]) -> list[str]:\n"
        "        return batch\n"
    )
    (tmp_path / "small.py").write_text(
        "import scaleserve\n"
        "class Small(scaleserve.Model):\n"
        "    def predict(self, batch: list[str]) -> list[str]:\n"
        "        return batch\n"
    )
    specs = load_targets([str(tmp_path / "big.py"), str(tmp_path / "small.py")])
    assert [(s.name, s.fallback) for s in specs] == [("big", "small"), ("small", None)]
    with pytest.raises(ConfigError, match="falls back to 'small'"):
        load_targets([str(tmp_path / "big.py")])
