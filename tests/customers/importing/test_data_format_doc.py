from __future__ import annotations

import csv
import io
from pathlib import Path

from customers.importing.docs import render
from customers.importing.formats import FORMATS

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-format.md"


def test_the_document_is_up_to_date_with_the_formats():
    assert DOC.read_text(encoding="utf-8") == render(), "run: manage.py data_format_doc > docs/data-format.md"


def test_every_file_and_column_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for fmt in FORMATS:
        assert f"### `{fmt.name}`" in text
        for column in fmt.columns:
            assert f"| `{column.name}` |" in text, f"{fmt.name}.{column.name} is not documented"
            for value in column.allowed:
                assert f"`{value}`" in text


def test_each_example_has_one_value_per_column():
    text = render()
    for fmt in FORMATS:
        block = text.split(f"### `{fmt.name}`")[1].split("```csv\n")[1].split("```")[0]
        header, row = list(csv.reader(io.StringIO(block)))
        assert header == list(fmt.column_names)
        assert len(row) == len(header)
