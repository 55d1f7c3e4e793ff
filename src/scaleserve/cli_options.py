"""Options shared by several ``scaleserve`` commands, added to a typer command's signature.

Typer reads a command's options from its signature; ``with_options`` adds keyword options
to it and hands their values to ``take``, which turns them into the arguments the command
itself receives (for instance seven limit options into one ``Limits``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

Command = Callable[..., None]
Take = Callable[[dict[str, Any]], dict[str, Any]]


def keyword_options(options: Sequence[tuple[str, Any]]) -> list[inspect.Parameter]:
    """``(name, Annotated[type, typer.Option(...)])`` pairs as keyword parameters defaulting
    to ``None``."""
    return [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
        for name, kind in options
    ]


def with_options(options: Sequence[inspect.Parameter], take: Take) -> Callable[[Command], Command]:
    """Add ``options`` to a command; ``take`` maps their values to the command's arguments."""
    names = {option.name for option in options}

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)

        @functools.wraps(command)
        def with_values(*args: Any, **kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in names}
            command(*args, **take(values), **kwargs)

        produced = _produced(own, names)
        params = [p for p in own.parameters.values() if p.name not in produced]
        with_values.__signature__ = own.replace(  # type: ignore[attr-defined]  # what typer reads
            parameters=[*params, *options]
        )
        return with_values

    return decorate


def _produced(own: inspect.Signature, names: set[str]) -> set[str]:
    """Parameters of the command that ``take`` fills: its keyword-only ones not offered as
    options, that have no default."""
    return {
        p.name
        for p in own.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.default is inspect.Parameter.empty
        and p.name not in names
    }


def optional_text(help_text: str) -> Any:
    """The annotation of an optional text option."""
    return Annotated[str | None, typer.Option(help=help_text)]


class StoreOptions:
    """Where a command group's store is: options given to the group
    (``scaleserve tenants --data-dir D create acme``) or again to the command after it
    (``scaleserve tenants create acme --data-dir D``), which win."""

    def __init__(self, options: Sequence[tuple[str, str]]) -> None:
        self.given: dict[str, Any] = {name: None for name, _ in options}
        params = keyword_options([(name, optional_text(text)) for name, text in options])
        self.command = with_options(params, self._take)
        """Decorates a command with the options."""

    def group(self, **values: Any) -> None:
        """Take the group's options (its typer callback calls this)."""
        self.given = dict(values)

    def _take(self, values: dict[str, Any]) -> dict[str, Any]:
        self.given = {name: values.get(name) or given for name, given in self.given.items()}
        return {}
