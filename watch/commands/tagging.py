"""Tagging commands: `veille label`, `train`, `evaluate`, `classify` and `retag`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from classifiers.dataset import (
    SEED_PATH,
    SEED_TEXT_FIELDS,
    Dataset,
    Example,
    load_dataset,
    parse_fields,
    seed_dataset,
)
from classifiers.model import DEFAULT_MODEL_PATH, load_model, save_model
from classifiers.taxonomy import COMPETITOR_TAG, OPPORTUNITY_TAG, default_taxonomy, load_taxonomy
from crawler.items import Article
from watch import feedback
from watch.commands.options import (
    config_option,
    console,
    err_console,
    json_option,
    load,
    print_json,
)
from watch.config import Config, NoConfigError
from watch.errors import UserError
from watch.store import Store
from watch.tagging import Tagger, item_fields, model_path, model_text, trained_model_path

if TYPE_CHECKING:
    from classifiers.evaluation import Report

RETAG_BATCH = 256


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def _config(config_path: str | None, required: bool) -> Config | None:
    """The configuration, or None when it is optional and there is none.

    A configuration that exists but is broken is always an error: quietly using
    the defaults would hide the user's mistake.
    """
    try:
        return load(config_path)
    except NoConfigError:
        if required:
            raise
        return None


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    store = Store(config.db_path)
    try:
        yield store
    finally:
        store.close()


def _reindex(config: Config, store: Store, ids: list[int]) -> str | None:
    """Send re-tagged items to Elasticsearch when it is the search backend; a note if not sent."""
    if not ids or config.settings.search.backend != "elasticsearch":
        return None
    from watch import indexer

    store.enqueue_index(ids)
    try:
        sent = indexer.sync_pending(config, store)
    except UserError as exc:
        return f"Elasticsearch not updated yet ({exc}); the items stay queued for the next sync."
    return f"sent {sent} item(s) to Elasticsearch"


# -- veille label ---------------------------------------------------------------


@click.command()
@click.argument("item_id", type=int, metavar="ID")
@click.option("--add", "add", multiple=True, metavar="TAG", help="Add this tag (repeatable).")
@click.option(
    "--remove", "remove", multiple=True, metavar="TAG", help="Remove this tag (repeatable)."
)
@click.option(
    "--opportunity",
    type=click.Choice(["yes", "no"]),
    help="Say whether the item is an opportunity.",
)
@config_option
@json_option
def label(
    item_id: int,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    opportunity: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Correct an item's tags or opportunity; kept across re-crawls and used by `veille train`."""
    config = load(config_path)
    taxonomy = load_taxonomy(config)
    answer = None if opportunity is None else opportunity == "yes"
    with _store(config) as store:
        item, corrections = feedback.record(store, item_id, add, remove, answer)
        threshold = config.settings.classifier.opportunity_threshold
        tags, chance, reasons = corrections.apply(
            item.tags, item.opportunity, item.tag_reasons, threshold
        )
        store.set_tags(item.id, tags, chance, reasons)
        note = _reindex(config, store, [item.id])
    known = set(taxonomy.topic_names) | {OPPORTUNITY_TAG}
    unknown = [t for t in add if t not in known and not t.startswith(COMPETITOR_TAG)]
    if as_json:
        print_json({"id": item.id, "tags": tags, "opportunity": chance, "reasons": reasons})
        return
    console.print(f"[bold]#{item.id}[/] {item.title}")
    console.print(f"tags: {', '.join(tags) or '(none)'}")
    if chance is not None:
        console.print(f"opportunity: {chance:.2f}")
    for tag in unknown:
        console.print(
            f"[yellow]note:[/] {tag!r} is not a topic of the taxonomy: the item keeps it, "
            "but the classifier only learns taxonomy topics."
        )
    if note:
        console.print(note)
    console.print("Recorded. `veille train` learns from corrections; `veille retag` applies it.")


# -- data sets shared by train and evaluate ----------------------------------------


def _dataset(
    config: Config | None, data: str | None, text_fields: str | None, label_field: str | None
) -> tuple[Dataset, list[Example]]:
    """The data set to use, and users' corrections to add (default data only)."""
    fields = parse_fields(text_fields)
    if data:
        return load_dataset(data, fields, label_field), []
    if fields or label_field:
        dataset = load_dataset(SEED_PATH, fields or SEED_TEXT_FIELDS, label_field or "labels")
        return dataset, []
    dataset = seed_dataset()
    extra: list[Example] = []
    if config is not None and config.db_path.exists():
        topics = set(load_taxonomy(config).topic_names) | set(dataset.label_names)
        with _store(config) as store:
            extra = feedback.training_examples(
                store, topics, lambda item: model_text(item, SEED_TEXT_FIELDS)
            )
    return dataset, extra


def _with_extra(dataset: Dataset, extra: list[Example]) -> Dataset:
    if not extra:
        return dataset
    return Dataset(
        examples=dataset.examples + [e for e in extra if e.has_labels],
        multilabel=dataset.multilabel,
        source=f"{dataset.source} + {len(extra)} corrected item(s)",
        text_fields=dataset.text_fields,
        label_field=dataset.label_field,
        sha256=dataset.sha256,
    )


_data_options = [
    click.option(
        "--data",
        type=click.Path(dir_okay=False),
        help="A CSV, TSV or JSONL file of labelled texts (default: seed set + corrections).",
    ),
    click.option(
        "--text-fields",
        metavar="F[,F...]",
        help="Fields joined into the text (default: title,summary,text where present).",
    ),
    click.option(
        "--label-field",
        metavar="FIELD",
        help="The label field: one value (multi-class) or a list / a|b (multi-label).",
    ),
]


def data_options(func: Any) -> Any:
    """Add --data, --text-fields and --label-field."""
    for option in reversed(_data_options):
        func = option(func)
    return func


# -- veille train ----------------------------------------------------------------


@click.command()
@data_options
@click.option(
    "--model-out",
    type=click.Path(dir_okay=False),
    help="Where to save the model (default: the model in use, or DATA_DIR/models/tagging.skops).",
)
@config_option
@json_option
def train(
    data: str | None,
    text_fields: str | None,
    label_field: str | None,
    model_out: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Train the topic classifier and opportunity score (default: seed set + corrections)."""
    config = _config(config_path, required=not (data and model_out))
    dataset, extra = _dataset(config, data, text_fields, label_field)
    if model_out:
        out = Path(model_out)
    elif config.settings.classifier.model_path is not None:
        out = config.resolve(config.settings.classifier.model_path)
    else:
        out = trained_model_path(config)
    started = time.perf_counter()
    with _progress() as bar:
        tasks: dict[str, Any] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"training: {stage}", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        # Training needs scikit-learn (0.7 s to import): only this command pays for it.
        from classifiers.training import train_model

        model = train_model(
            dataset, extra, progress=step, sources=["stored corrections"] * bool(extra)
        )
    save_model(model, out)
    info = model.info
    summary = {
        "model": str(out),
        "model_version": info["model_version"],
        "task": "multilabel" if dataset.multilabel else "multiclass",
        "labels": info["labels"],
        "examples": info["examples"],
        "corrections": len(extra),
        "opportunity_examples": info["opportunity_examples"],
        "seconds": round(time.perf_counter() - started, 2),
        "sklearn_version": info["sklearn_version"],
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"Trained on {summary['examples']} examples ({summary['task']}, "
        f"{len(summary['labels'])} labels"
        + (f", {len(extra)} from your corrections" if extra else "")
        + (
            f"; opportunity score on {summary['opportunity_examples']}"
            if summary["opportunity_examples"]
            else "; no opportunity score (no yes/no answers)"
        )
        + f") in {summary['seconds']:.1f} s."
    )
    console.print(f"Saved {out} (version {summary['model_version']}).")
    if config is not None and out == model_path(config):
        console.print("It is the model in use: run `veille retag` to re-tag stored items.")
    elif config is not None:
        console.print("Not the model in use: set classifier.model_path in veille.yaml to use it.")


# -- veille evaluate ------------------------------------------------------------------


@click.command()
@click.option("--model", "model_file", type=click.Path(dir_okay=False), help="Model to score.")
@click.option("--cv", "folds", type=int, help="Cross-validate the training pipeline, K folds.")
@click.option(
    "--baseline",
    is_flag=True,
    help="With --cv: also run TF-IDF 1-2 grams + LinearSVC on the same folds, and compare.",
)
@data_options
@config_option
@json_option
def evaluate(
    model_file: str | None,
    folds: int | None,
    baseline: bool,
    data: str | None,
    text_fields: str | None,
    label_field: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Precision, recall and F1 per label: of a model (--model) or by K-fold CV (--cv K)."""
    if model_file and folds:
        raise UserError("Give either --model PATH or --cv K, not both.")
    if baseline and not folds:
        raise UserError("--baseline compares by cross-validation: add --cv K (5 is usual).")
    config = _config(config_path, required=False)
    dataset, extra = _dataset(config, data, text_fields, label_field)
    dataset = _with_extra(dataset, extra)
    from classifiers.evaluation import cross_validate, score

    comparison = None
    if folds:
        from classifiers.training import TextClassifier

        pipelines: dict[str, Any] = {"veille": TextClassifier}
        if baseline:
            from classifiers.baseline import Baseline

            pipelines["baseline"] = Baseline
        with _progress() as bar:
            task = bar.add_task(f"{folds}-fold cross-validation", total=folds * len(pipelines))
            reports = cross_validate(
                dataset,
                folds,
                pipelines,
                progress=lambda d, t: bar.update(task, completed=d, total=t),
            )
        report = reports["veille"]
        what = f"{folds}-fold cross-validation of the training pipeline"
        if baseline:
            comparison = _comparison(report, reports["baseline"])
    else:
        if model_file:
            path = Path(model_file)
        else:
            path = model_path(config) if config is not None else DEFAULT_MODEL_PATH
        model = load_model(path)
        with err_console.status("classifying"):
            started = time.perf_counter()
            predicted = [p.labels for p in model.predict(dataset.texts)]
        report = score(dataset.label_lists, predicted, dataset.multilabel)
        report.train_seconds = None
        what = f"model {path} (version {model.info.get('model_version')})"
        seconds = time.perf_counter() - started
        what += f", {len(dataset) / max(seconds, 1e-9):.0f} texts/s"
    if as_json:
        extra_keys = {"comparison": comparison} if comparison else {}
        print_json({**report.to_dict(), "data": dataset.source, "evaluated": what, **extra_keys})
        return
    _print_report(report, dataset, what)
    if comparison:
        _print_comparison(comparison, report)


def _comparison(ours: Report, base: Report) -> dict[str, Any]:
    """Veille against the baseline on the same folds: scores, gains and training-time ratio."""
    from classifiers.baseline import DESCRIPTION
    from classifiers.evaluation import compare

    return {
        "baseline": DESCRIPTION,
        "baseline_macro_f1": base.macro_f1,
        "baseline_micro_f1": base.micro_f1,
        "baseline_folds": base.folds,
        "baseline_train_cpu_seconds": base.train_cpu_seconds,
        "train_cpu_seconds": ours.train_cpu_seconds,
        **compare(ours, base),
    }


def _print_comparison(c: dict[str, Any], ours: Report) -> None:
    table = Table(
        "same folds", "macro-F1", "micro-F1", "training, CPU s", title=f"baseline: {c['baseline']}"
    )
    table.add_row(
        "baseline",
        f"{c['baseline_macro_f1']:.4f}",
        f"{c['baseline_micro_f1']:.4f}",
        f"{c['baseline_train_cpu_seconds']:.1f}",
    )
    table.add_row(
        "Veille", f"{ours.macro_f1:.4f}", f"{ours.micro_f1:.4f}", f"{c['train_cpu_seconds']:.1f}"
    )
    console.print(table)
    console.print(
        f"Veille: macro-F1 {c['macro_f1_gain']:+.4f}, micro-F1 {c['micro_f1_gain']:+.4f}, "
        f"training time {c['train_time_ratio']:.2f}x the baseline's (CPU)"
    )


def _print_report(report: Report, dataset: Dataset, what: str) -> None:
    console.print(
        f"[bold]{what}[/]\non {dataset.source}: {report.examples} examples, {report.task}"
    )
    for note in dataset.notes:
        console.print(f"[yellow]note:[/] {note}")
    table = Table("label", "precision", "recall", "F1", "support")
    for label, row in report.per_label.items():
        table.add_row(
            label,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    table.add_section()
    table.add_row(
        "macro avg",
        f"{report.macro_precision:.3f}",
        f"{report.macro_recall:.3f}",
        f"{report.macro_f1:.3f}",
        str(report.examples),
    )
    table.add_row(
        "micro avg",
        f"{report.micro_precision:.3f}",
        f"{report.micro_recall:.3f}",
        f"{report.micro_f1:.3f}",
        str(report.examples),
    )
    console.print(table)
    kind = "accuracy" if report.task == "multiclass" else "exact-match ratio"
    console.print(
        f"macro-F1 {report.macro_f1:.4f}, micro-F1 {report.micro_f1:.4f}, {kind} "
        f"{report.accuracy:.4f}"
    )
    if report.folds:
        folds = ", ".join(f"{f:.3f}" for f in report.folds)
        console.print(f"macro-F1 per fold: {folds}; training time {report.train_seconds:.1f} s")
    if report.confusion and len(report.labels) <= 30:
        matrix = Table("true \\ predicted", *report.confusion["labels"], title="confusion matrix")
        for label, row in zip(report.confusion["labels"], report.confusion["matrix"], strict=True):
            matrix.add_row(label, *(str(v) for v in row))
        console.print(matrix)


# -- veille classify -------------------------------------------------------------------


@click.command()
@click.argument("text", nargs=-1)
@click.option("--id", "item_id", type=int, help="Classify a stored item instead of TEXT.")
@config_option
@json_option
def classify(
    text: tuple[str, ...], item_id: int | None, config_path: str | None, as_json: bool
) -> None:
    """Show the tags and opportunity score of TEXT or a stored item, with their reasons."""
    if bool(text) == (item_id is not None):
        raise UserError("Give a TEXT to classify or --id ID, one of the two.")
    config = _config(config_path, required=item_id is not None)
    if item_id is not None:
        with _store(config) as store:
            item = store.get(item_id)
            if item is None:
                raise UserError(f"No item with id {item_id}. Find ids with `veille search`.")
            tagger = Tagger.from_config(config, store)
            subject: Any = item
            title = f"#{item.id} {item.title}"
    else:
        if config is not None:
            tagger = Tagger.from_config(config)
        else:
            tagger = Tagger(default_taxonomy(), load_model(None))
        joined = " ".join(text)
        # The text goes where the model reads: a model trained on headlines alone
        # reads titles, and rules read every field anyway.
        field = item_fields(tagger.model.text_fields)[0] if tagger.model else "summary"
        subject = Article(url="", source="", **{field: joined})
        title = joined if len(joined) <= 100 else joined[:97] + "..."
    result = tagger.results([subject])[0]
    model = tagger.model
    if as_json:
        print_json(
            {
                **result.to_dict(),
                "model_version": model.info.get("model_version") if model else None,
            }
        )
        return
    console.print(f"[bold]{title}[/]")
    table = Table("tag", "why")
    for tag in result.tags:
        table.add_row(tag, "\n".join(result.reasons.get(tag, [])))
    console.print(table if result.tags else "no tags")
    if result.opportunity is not None:
        console.print(f"opportunity score: {result.opportunity:.2f}")
    if model is not None:
        console.print(f"model {model.info.get('model_version')}")


# -- veille retag ----------------------------------------------------------------------


@click.command()
@config_option
@json_option
def retag(config_path: str | None, as_json: bool) -> None:
    """Re-tag every stored item with the current rules, model and corrections."""
    config = load(config_path)
    started = time.perf_counter()
    with _store(config) as store:
        tagger = Tagger.from_config(config, store)
        total = store.count()
        changed: list[int] = []
        counts: Counter[str] = Counter()
        with _progress() as bar:
            task = bar.add_task("re-tagging", total=total)
            batch = []
            for item in store.iter_items():
                batch.append(item)
                if len(batch) >= RETAG_BATCH:
                    changed += _retag_batch(store, tagger, batch, counts)
                    bar.update(task, advance=len(batch))
                    batch = []
            if batch:
                changed += _retag_batch(store, tagger, batch, counts)
                bar.update(task, advance=len(batch))
        note = _reindex(config, store, changed)
    seconds = time.perf_counter() - started
    model_version = tagger.model.info.get("model_version") if tagger.model else None
    if as_json:
        print_json(
            {
                "items": total,
                "changed": len(changed),
                "tags": dict(counts.most_common()),
                "model_version": model_version,
                "seconds": round(seconds, 2),
                "search_index": note,
            }
        )
        return
    console.print(
        f"Re-tagged {total} item(s) in {seconds:.1f} s with model {model_version}: "
        f"{len(changed)} changed."
    )
    if counts:
        table = Table("tag", "items")
        for tag, n in counts.most_common(25):
            table.add_row(tag, str(n))
        console.print(table)
    if note:
        console.print(note)


def _retag_batch(store: Store, tagger: Tagger, items: list, counts: Counter[str]) -> list[int]:
    changed = []
    with store.transaction():
        for item, result in zip(items, tagger.results(items), strict=True):
            counts.update(result.tags)
            same = (
                sorted(item.tags) == result.tags
                and item.opportunity == result.opportunity
                and item.tag_reasons == result.reasons
            )
            if not same:
                store.set_tags(item.id, result.tags, result.opportunity, result.reasons)
                changed.append(item.id)
    return changed


COMMANDS = [label, train, evaluate, classify, retag]
