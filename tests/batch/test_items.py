"""Which columns make a model's input."""

from __future__ import annotations

from typing import TypedDict

import pytest
from pydantic import BaseModel

from scaleserve.batch.files import InputFileError
from scaleserve.batch.items import item_columns


class Reading(BaseModel):
    x: int
    label: str = ""


class Point(TypedDict):
    lat: float
    lon: float


def test_an_object_input_takes_the_columns_named_as_its_fields() -> None:
    columns = item_columns(Reading, None, ["id", "x", "label"], "f")
    assert columns.item({"id": "a", "x": 3, "label": "b"}) == {"x": 3, "label": "b"}
    typed = item_columns(Point, None, ["lat", "lon", "id"], "f")
    assert typed.columns == ("lat", "lon")


def test_a_required_field_without_its_column_is_named() -> None:
    with pytest.raises(InputFileError, match=r"f: no column 'x'; its columns are id, label"):
        item_columns(Reading, None, ["id", "label"], "f")


def test_a_scalar_input_takes_the_named_the_only_or_the_input_column() -> None:
    assert item_columns(str, "text", ["id", "text"], "f").item({"text": "hi"}) == "hi"
    assert item_columns(str, None, ["text"], "f").columns == ("text",)
    assert item_columns(str, None, ["id", "input"], "f").columns == ("input",)
    with pytest.raises(InputFileError, match=r"pass --column.*id, text"):
        item_columns(str, None, ["id", "text"], "f")
    with pytest.raises(InputFileError, match="no column 'body'"):
        item_columns(str, "body", ["id", "text"], "f")
