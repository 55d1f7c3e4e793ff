"""A pipeline class read into a checked graph of steps, refused at load when it cannot run.

Refused, with a message naming the steps: a parameter naming no step, a model step on a
model this service does not serve, a cycle, and a type mismatch (a step taking what its
source does not give). Types match when they are equal, when the taker takes ``Any``, or
when the given class is a subclass of the taken one.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec
from scaleserve.pipelines.declare import CONTEXT, REQUEST, ModelStep, Pipeline


@dataclass(frozen=True)
class Step:
    name: str
    sources: tuple[str, ...]
    """The steps (or ``request``) whose outputs it takes, in parameter order."""
    gives: Any
    """The type of its output."""
    function: Callable[..., Any] | None = None
    model: ModelSpec | None = None
    wants_context: bool = False


@dataclass(frozen=True)
class PipelineGraph:
    name: str
    pipeline: type[Pipeline]
    request_type: Any
    steps: Mapping[str, Step]
    order: tuple[str, ...]
    """A topological order: each step after all its sources."""
    output: str
    preface: str = ""

    @property
    def output_step(self) -> Step:
        return self.steps[self.output]

    def models(self) -> list[str]:
        """The served models its steps use."""
        return sorted({s.model.name for s in self.steps.values() if s.model is not None})


def read_graph(pipeline: type[Pipeline], models: Mapping[str, ModelSpec]) -> PipelineGraph:
    """The graph of ``pipeline``, whose model steps use ``models``; ``ConfigError`` if it
    cannot run."""
    label = pipeline.__name__
    declared = _declared_steps(pipeline)
    if not declared:
        raise ConfigError(f"pipeline {label} declares no steps")
    steps: dict[str, Step] = {}
    request_types: list[tuple[str, Any]] = []
    for name, value in declared.items():
        steps[name] = _step(label, name, value, models, request_types)
    request_type = _request_type(label, request_types)
    order = _order(label, steps)
    _check_types(label, steps, request_type)
    output = pipeline.output or next(reversed(declared))
    if output not in steps:
        raise ConfigError(f"pipeline {label}: output {output!r} is not one of its steps")
    _check_preface(label, pipeline.preface, steps, output)
    name = pipeline.name or label.lower()
    return PipelineGraph(name, pipeline, request_type, steps, order, output, pipeline.preface)


def _check_preface(label: str, preface: str, steps: Mapping[str, Step], output: str) -> None:
    if not preface:
        return
    if preface not in steps or not fits(steps[preface].gives, str):
        raise ConfigError(f"pipeline {label}: preface {preface!r} is not a step giving str")
    if "text" not in getattr(steps[output].gives, "model_fields", {}):
        raise ConfigError(f"pipeline {label}: a preface needs an answer with a text field")


def _declared_steps(pipeline: type[Pipeline]) -> dict[str, Any]:
    """The class's own steps in declaration order: public methods and ``ModelStep``s."""
    found = {}
    for name, value in vars(pipeline).items():
        if name.startswith("_") or name in vars(Pipeline):
            continue
        if isinstance(value, ModelStep) or inspect.isfunction(value):
            found[name] = value
    return found


def _step(
    label: str,
    name: str,
    value: Any,
    models: Mapping[str, ModelSpec],
    request_types: list[tuple[str, Any]],
) -> Step:
    if name in (REQUEST, CONTEXT):
        raise ConfigError(f"pipeline {label}: a step may not be named {name!r}")
    if isinstance(value, ModelStep):
        spec = models.get(value.model)
        if spec is None:
            raise ConfigError(
                f"pipeline {label}: step {name!r} uses model {value.model!r}, "
                "which this service does not serve"
            )
        return Step(name, (value.source,), spec.output_type, model=spec)
    hints = _hints(label, name, value)
    params = [p for p in inspect.signature(value).parameters if p != "self"]
    for param in params:
        if param not in hints:
            raise ConfigError(f"pipeline {label}: step {name!r} does not annotate {param!r}")
        if param == REQUEST:
            request_types.append((name, hints[param]))
    if "return" not in hints:
        raise ConfigError(f"pipeline {label}: step {name!r} does not annotate its return")
    sources = tuple(p for p in params if p != CONTEXT)
    return Step(name, sources, hints["return"], function=value, wants_context=CONTEXT in params)


def _hints(label: str, name: str, function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise ConfigError(f"pipeline {label}: step {name!r} has unreadable types: {exc}") from exc


def _request_type(label: str, uses: list[tuple[str, Any]]) -> Any:
    if not uses:
        raise ConfigError(f"pipeline {label}: no step takes the {REQUEST!r}")
    first_step, first = uses[0]
    for step, kind in uses[1:]:
        if kind != first:
            raise ConfigError(
                f"pipeline {label}: steps {first_step!r} and {step!r} take the request "
                f"as different types ({_show(first)} and {_show(kind)})"
            )
    return first


def _order(label: str, steps: Mapping[str, Step]) -> tuple[str, ...]:
    for step in steps.values():
        for source in step.sources:
            if source != REQUEST and source not in steps:
                raise ConfigError(
                    f"pipeline {label}: step {step.name!r} takes {source!r}, "
                    "which is no step of this pipeline"
                )
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = [*path[path.index(name) :], name]
            raise ConfigError(f"pipeline {label} has a cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for source in steps[name].sources:
            if source != REQUEST:
                visit(source, [*path, name])
        state[name] = "done"
        order.append(name)

    for name in steps:
        visit(name, [])
    return tuple(order)


def _check_types(label: str, steps: Mapping[str, Step], request_type: Any) -> None:
    for step in steps.values():
        takes = _takes(step)
        for source, wanted in zip(step.sources, takes, strict=True):
            given = request_type if source == REQUEST else steps[source].gives
            if not fits(given, wanted):
                raise ConfigError(
                    f"pipeline {label}: step {step.name!r} takes {_show(wanted)} from "
                    f"{source!r}, which gives {_show(given)}"
                )


def _takes(step: Step) -> list[Any]:
    if step.model is not None:
        return [step.model.input_type]
    if step.function is None:
        raise ConfigError(f"step {step.name!r} is neither a model's nor a function's")
    hints = typing.get_type_hints(step.function, include_extras=True)
    return [hints[source] for source in step.sources]


def fits(given: Any, wanted: Any) -> bool:
    """Whether a value of type ``given`` may go where ``wanted`` is expected."""
    if wanted is Any or given == wanted:
        return True
    given, wanted = _bare(given), _bare(wanted)
    if given == wanted:
        return True
    return inspect.isclass(given) and inspect.isclass(wanted) and issubclass(given, wanted)


def _bare(kind: Any) -> Any:
    """``Annotated[T, ...]`` as ``T``."""
    return typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Annotated else kind


def _show(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")
