"""Labelled text data sets: the bundled seed set, or any CSV/TSV/JSONL file.

A row's text is its text fields joined by newlines (those that are present and
not empty). Its label field holds one value (a single-label, multi-class task)
or a JSON list or ``|``-separated values (a multi-label task); a file is
multi-label as soon as one of its rows is. An ``opportunity`` field (yes/no,
true/false, 1/0), when present, trains the opportunity score.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watch.errors import UserError

DATA_DIR = Path(__file__).parent / "data"
SEED_PATH = DATA_DIR / "seed.jsonl"
SEED_TEXT_FIELDS = ("title", "summary")
DEFAULT_TEXT_FIELDS = ("title", "summary", "text")
# Without --text-fields, these columns are read when present (any case), in this order.
TEXT_FIELD_GUESSES = ("title", "headline", "summary", "description", "text", "body", "content")
# A model trained on a file records its column names; items have a title, a summary
# and a body. This table says which item field stands for a column (lower-cased).
ITEM_FIELD_OF = {
    "title": "title",
    "headline": "title",
    "subject": "title",
    "summary": "summary",
    "description": "summary",
    "short_description": "summary",
    "abstract": "summary",
    "lead": "summary",
    "text": "text",
    "body": "text",
    "content": "text",
    "article": "text",
}
LABEL_FIELD_GUESSES = (
    "labels", "label", "tags", "category", "categories", "topic", "topics", "class"
)  # fmt: skip
OPPORTUNITY_FIELD = "opportunity"
_YES = {"yes", "y", "true", "1", "oui"}
_NO = {"no", "n", "false", "0", "non"}


class DatasetError(UserError):
    """A data file that cannot be used, with the file, line and field at fault."""


@dataclass
class Example:
    """One labelled text."""

    text: str
    labels: list[str]
    opportunity: bool | None = None
    # False for an example that only answers the opportunity question.
    has_labels: bool = True


@dataclass
class Dataset:
    """Labelled texts, and whether the task is multi-label."""

    examples: list[Example]
    multilabel: bool
    source: str
    text_fields: tuple[str, ...] = DEFAULT_TEXT_FIELDS
    label_field: str = "labels"
    sha256: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def texts(self) -> list[str]:
        """Each example's text."""
        return [e.text for e in self.examples]

    @property
    def label_lists(self) -> list[list[str]]:
        """Each example's labels, always as a list."""
        return [e.labels for e in self.examples]

    @property
    def targets(self) -> list[Any]:
        """Labels as models take them: lists when multi-label, single strings otherwise."""
        if self.multilabel:
            return self.label_lists
        return [e.labels[0] for e in self.examples]

    @property
    def label_names(self) -> list[str]:
        """Every label that occurs, sorted."""
        return sorted({label for e in self.examples for label in e.labels})

    def with_opportunity(self) -> list[Example]:
        """The examples that carry a yes/no opportunity answer."""
        return [e for e in self.examples if e.opportunity is not None]


def seed_dataset() -> Dataset:
    """The bundled seed set (title + summary, multi-label topics, opportunity yes/no)."""
    return load_dataset(SEED_PATH, SEED_TEXT_FIELDS, "labels")


def load_dataset(
    path: str | Path,
    text_fields: Sequence[str] | None = None,
    label_field: str | None = None,
) -> Dataset:
    """Read a CSV, TSV or JSONL file of labelled texts."""
    path = Path(path)
    rows = list(_read_rows(path))
    if not rows:
        raise DatasetError(f"{path}: no rows found; expected a CSV, TSV or JSONL file with data.")
    columns = _columns(rows)
    fields = _text_fields(path, columns, text_fields)
    label = _label_field(path, columns, label_field)
    multilabel = any(_is_multi(row.get(label)) for _, row in rows)
    examples = []
    for line, row in rows:
        text = "\n".join(str(row[f]) for f in fields if row.get(f) not in (None, ""))
        labels = _labels(row.get(label), multilabel)
        if not labels and not multilabel:
            raise DatasetError(
                f"{path}, line {line}: field '{label}' is empty; every row of a single-label "
                "file needs a label."
            )
        examples.append(Example(text=text, labels=labels, opportunity=_yes_no(path, line, row)))
    return Dataset(
        examples=examples,
        multilabel=multilabel,
        source=str(path),
        text_fields=tuple(fields),
        label_field=label,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def parse_fields(value: str | None) -> tuple[str, ...] | None:
    """'title,summary' -> ('title', 'summary'); None or '' -> None."""
    if not value:
        return None
    fields = tuple(f.strip() for f in value.split(",") if f.strip())
    return fields or None


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found.") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({exc}).") from None
    with handle:
        try:
            if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
                yield from _jsonl_rows(path, handle)
            else:
                yield from _csv_rows(path, handle)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason}).") from None


def _jsonl_rows(path: Path, handle: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == 1 and line.lstrip().startswith("["):
                raise _json_array(path) from None
            raise DatasetError(f"{path}, line {number}: invalid JSON ({exc.msg}).") from None
        if number == 1 and isinstance(row, list):
            raise _json_array(path)
        if not isinstance(row, dict):
            raise DatasetError(f"{path}, line {number}: expected a JSON object per line.")
        yield number, row


def _json_array(path: Path) -> DatasetError:
    return DatasetError(
        f"{path}: this looks like one JSON array; Veille reads JSON Lines, one object per "
        f"line. Convert it, e.g. with: jq -c '.[]' {path} > data.jsonl"
    )


def _csv_rows(path: Path, handle: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    # Article bodies easily exceed the csv module's 128 KB default field limit.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(handle, delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise DatasetError(f"{path}, line {reader.line_num}: invalid CSV ({exc}).") from None


def _columns(rows: list[tuple[int, dict[str, Any]]]) -> list[str]:
    seen: dict[str, None] = {}
    for _, row in rows[:1000]:
        seen.update(dict.fromkeys(k for k in row if k is not None))
    return list(seen)


def _column(columns: list[str], name: str) -> str | None:
    """The file's column called `name`: exactly, or else in another case if only one is."""
    if name in columns:
        return name
    matches = [c for c in columns if c.strip().lower() == name.strip().lower()]
    return matches[0] if len(matches) == 1 else None


def _text_fields(path: Path, columns: list[str], wanted: Sequence[str] | None) -> list[str]:
    if wanted:
        # A data set may simply lack summaries, say: missing fields are tolerated.
        present = [c for c in (_column(columns, f) for f in wanted) if c is not None]
        if not present:
            raise DatasetError(
                f"{path}: none of the text fields {', '.join(wanted)} is in the file; "
                f"its fields are: {_listing(columns)}. Pass --text-fields."
            )
        return list(dict.fromkeys(present))
    guessed = [c for c in (_column(columns, f) for f in TEXT_FIELD_GUESSES) if c is not None]
    if not guessed:
        raise DatasetError(
            f"{path}: no text field found (looked for {', '.join(TEXT_FIELD_GUESSES)}); "
            f"its fields are: {_listing(columns)}. Pass --text-fields FIELD[,FIELD...]."
        )
    return list(dict.fromkeys(guessed))


def _label_field(path: Path, columns: list[str], wanted: str | None) -> str:
    if wanted:
        found = _column(columns, wanted)
        if found is None:
            raise DatasetError(
                f"{path}: label field '{wanted}' is not in the file; its fields are: "
                f"{_listing(columns)}. Pass --label-field."
            )
        return found
    for guess in LABEL_FIELD_GUESSES:
        found = _column(columns, guess)
        if found is not None:
            return found
    raise DatasetError(
        f"{path}: no label field found (looked for {', '.join(LABEL_FIELD_GUESSES)}); "
        f"its fields are: {_listing(columns)}. Pass --label-field FIELD."
    )


def _listing(columns: list[str]) -> str:
    """The columns for an error message, with a hint when the first row looks like data."""
    shown = ", ".join(c if len(c) <= 40 else c[:37] + "..." for c in columns)
    if any(_looks_like_data(c) for c in columns):
        shown += (
            " (the first row is read as the column names, and it looks like data: "
            "add a header row such as label,title,text)"
        )
    return shown


def _looks_like_data(column: str) -> bool:
    text = column.strip()
    return len(text) > 40 or text.replace(".", "", 1).isdigit()


def _is_multi(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, str) and "|" in value)


def _labels(value: Any, multilabel: bool) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split("|") if multilabel else [value]
    labels = []
    for item in items:
        text = (str(item).lower() if isinstance(item, bool) else str(item)).strip()
        if text and text not in labels:
            labels.append(text)
    return labels


def _yes_no(path: Path, line: int, row: dict[str, Any]) -> bool | None:
    value = row.get(OPPORTUNITY_FIELD)
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise DatasetError(
        f"{path}, line {line}: field '{OPPORTUNITY_FIELD}' must be yes or no; got {value!r}."
    )
