"""Reading labelled data: CSV, TSV, JSONL; single-label or multi-label; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.dataset import DatasetError, load_dataset, seed_dataset
from watch.errors import UserError


def test_seed_set_covers_the_taxonomy_in_two_languages() -> None:
    seed = seed_dataset()
    assert 400 <= len(seed) <= 700 and seed.multilabel
    assert len(seed.label_names) == 10
    rows = [json.loads(line) for line in Path(seed.source).read_text().splitlines()]
    assert {r["lang"] for r in rows} == {"en", "fr"}
    assert sum(len(r["labels"]) > 1 for r in rows) > 50
    assert {r["opportunity"] for r in rows} == {"yes", "no"}
    assert len({r["title"] for r in rows}) == len(rows)


def test_csv_with_one_label_per_row_is_multiclass(tmp_path: Path) -> None:
    path = tmp_path / "news.csv"
    path.write_text('category,text\nsport,"A match, a goal"\nbusiness,Shares rise\n')
    data = load_dataset(path)
    assert not data.multilabel and data.label_field == "category"
    assert data.texts == ["A match, a goal", "Shares rise"]
    assert data.targets == ["sport", "business"]


def test_pipe_separated_or_list_labels_are_multilabel(tmp_path: Path) -> None:
    path = tmp_path / "tags.jsonl"
    path.write_text(
        json.dumps({"title": "T1", "summary": "S1", "labels": ["seo", "advertising"]})
        + "\n\n"
        + json.dumps({"title": "T2", "labels": "payments"})
        + "\n"
    )
    data = load_dataset(path)
    assert data.multilabel
    assert data.texts == ["T1\nS1", "T2"]
    assert data.label_lists == [["seo", "advertising"], ["payments"]]
    tsv = tmp_path / "tags.tsv"
    tsv.write_text("text\ttopics\nhello\ta|b\nbye\tb\n")
    data = load_dataset(tsv, ["text"], "topics")
    assert data.multilabel and data.label_lists == [["a", "b"], ["b"]]


def test_text_and_label_fields_can_be_chosen(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"headline": "H", "body": "B", "y": 3}) + "\n")
    data = load_dataset(path, ["headline", "body"], "y")
    assert data.texts == ["H\nB"] and data.targets == ["3"]


def test_common_column_names_are_found_in_any_case(tmp_path: Path) -> None:
    path = tmp_path / "bbc.csv"
    path.write_text("ArticleId,Headline,Text,Category\n1,H,B,sport\n")
    data = load_dataset(path)
    assert data.text_fields == ("Headline", "Text") and data.label_field == "Category"
    assert data.texts == ["H\nB"] and data.targets == ["sport"]
    chosen = load_dataset(path, ["text"], "category")
    assert chosen.text_fields == ("Text",) and chosen.targets == ["sport"]


def test_missing_fields_are_named_with_the_fields_available(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("story,kind\nx,y\n")
    with pytest.raises(DatasetError, match=r"no text field found.*story, kind"):
        load_dataset(path)
    with pytest.raises(DatasetError, match=r"label field 'label' is not in the file"):
        load_dataset(path, ["story"], "label")
    assert issubclass(DatasetError, UserError)


def test_a_file_without_a_header_row_is_pointed_out(tmp_path: Path) -> None:
    path = tmp_path / "ag.csv"
    path.write_text(
        '"3","Wall St. Bears Claw Back Into the Black","Short-sellers are seeing green"\n'
        '"4","Oil prices soar to all-time record","Soaring crude prices plus worries"\n'
    )
    with pytest.raises(DatasetError, match=r"first row .* looks like data: add a header row"):
        load_dataset(path)


def test_a_json_array_is_told_to_become_json_lines(tmp_path: Path) -> None:
    for text in ('[{"text": "a", "label": "x"}]', '[\n  {"text": "a", "label": "x"}\n]'):
        path = tmp_path / "d.json"
        path.write_text(text)
        with pytest.raises(DatasetError, match=r"one JSON array; Veille reads JSON Lines"):
            load_dataset(path)


def test_bad_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n{"text": "broken"\n')
    with pytest.raises(DatasetError, match=r"line 2: invalid JSON"):
        load_dataset(path)
    path.write_text('{"text": "ok", "label": "a"}\n{"text": "no label", "label": ""}\n')
    with pytest.raises(DatasetError, match=r"line 2: field 'label' is empty"):
        load_dataset(path)
    path.write_text('{"text": "ok", "label": "a", "opportunity": "maybe"}\n')
    with pytest.raises(DatasetError, match=r"line 1: field 'opportunity' must be yes or no"):
        load_dataset(path)
    with pytest.raises(DatasetError, match="file not found"):
        load_dataset(tmp_path / "missing.csv")
