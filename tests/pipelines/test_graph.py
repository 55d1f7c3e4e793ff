"""A pipeline that cannot run is refused when it is loaded, naming the steps at fault."""

from __future__ import annotations

import pytest

import scaleserve
from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec
from scaleserve.pipelines.graph import read_graph
from tests.fixtures.pipeline_app import Ask, Shout, Slow, Upper

MODELS = {s.name: s for s in (ModelSpec.from_class(Upper), ModelSpec.from_class(Slow))}


def test_a_good_pipeline_reads_in_dependency_order() -> None:
    graph = read_graph(Shout, MODELS)
    assert graph.name == "shout" and graph.output == "answer" and graph.request_type is Ask
    order = graph.order
    assert order.index("text") < order.index("upper") < order.index("size") < order.index("answer")
    assert graph.steps["answer"].sources == ("upper", "size", "words")
    assert graph.models() == ["slow", "upper"]


def test_a_cycle_is_refused_naming_its_steps() -> None:
    class Loop(scaleserve.Pipeline):
        def first(self, request: Ask, third: str) -> str:
            return third

        def second(self, first: str) -> str:
            return first

        def third(self, second: str) -> str:
            return second

    with pytest.raises(ConfigError, match=r"cycle: first -> third -> second -> first"):
        read_graph(Loop, MODELS)


def test_a_type_mismatch_is_refused_naming_both_steps() -> None:
    class Mismatch(scaleserve.Pipeline):
        def count(self, request: Ask) -> int:
            return len(request.text)

        upper = scaleserve.ModelStep("upper", source="count")

    with pytest.raises(ConfigError, match=r"step 'upper' takes str from 'count', which gives int"):
        read_graph(Mismatch, MODELS)


def test_unknown_steps_and_models_are_refused() -> None:
    class Dangling(scaleserve.Pipeline):
        def answer(self, request: Ask, missing: str) -> str:
            return missing

    with pytest.raises(ConfigError, match=r"step 'answer' takes 'missing', which is no step"):
        read_graph(Dangling, MODELS)

    class NoModel(scaleserve.Pipeline):
        def text(self, request: Ask) -> str:
            return request.text

        out = scaleserve.ModelStep("nowhere", source="text")

    with pytest.raises(ConfigError, match=r"step 'out' uses model 'nowhere'"):
        read_graph(NoModel, MODELS)


def test_steps_must_agree_on_the_request_type() -> None:
    class Split(scaleserve.Pipeline):
        def a(self, request: Ask) -> str:
            return request.text

        def b(self, request: str, a: str) -> str:
            return request + a

    with pytest.raises(ConfigError, match=r"steps 'a' and 'b' take the request"):
        read_graph(Split, MODELS)
