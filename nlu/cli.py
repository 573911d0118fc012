"""The `reporta nlu` commands owned by `nlu/`: train, parse, evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

nlu_app = typer.Typer(help="Natural-language understanding: train, parse, evaluate.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this room's commands to the root app."""
    app.add_typer(nlu_app, name="nlu")


@nlu_app.command()
def train(force: bool = typer.Option(False, "--force", help="Retrain even if the cached model is current.")) -> None:
    """Train the builtin model on data/nlu and cache it (outside the repository)."""
    import time

    from nlu import model
    from reporta.settings import get_settings

    s = get_settings()
    t0 = time.perf_counter()
    path = model.ensure_model(s.data_dir / "nlu", s.nlu_cache_dir, force=force, encoder=s.nlu_sentence_encoder)
    typer.echo(f"model: {path} ({time.perf_counter() - t0:.2f} s)")
    attribution = model.load_model(path).attribution
    if attribution:
        typer.echo(f"trained on real reports: {attribution}")


@nlu_app.command()
def parse(
    text: str = typer.Argument(..., help="The message to parse."),
    pending: Optional[str] = typer.Option(  # noqa: UP045
        None, "--pending", help="What the conversation waits for: yes_no, choice, location, photo, detail."
    ),
) -> None:
    """Print what the NLU understands of TEXT as JSON {intent, confidence, ranking, entities, problems}."""
    from nlu.api import PENDING_KINDS, load_parser
    from reporta.settings import get_settings

    if pending is not None and pending not in PENDING_KINDS:
        raise typer.BadParameter(f"--pending must be one of {', '.join(PENDING_KINDS)}")
    result = load_parser(get_settings()).parse(text, pending=pending)
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))


@nlu_app.command()
def evaluate(
    file: Optional[Path] = typer.Argument(None, help="Rasa NLU YAML, or TSV/CSV with columns text,label."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
    cv: int = typer.Option(0, "--cv", help="Cross-validate on the training data with this many folds."),
    written_only: bool = typer.Option(
        False, "--written-only", help="With --cv: hand-written examples only (no real reports; seconds, not minutes)."
    ),
    predictions: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--predictions", help="Also write one TSV row per message: text, gold, predicted, confidence, understood."
    ),
    heldout: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--heldout", help="Score every held-out set in this folder (tests/nlu/data): written sets by service "
        "and control intents, the pothole free-text set, act misreads, reliability, parse CPU p99, training time.",
    ),
) -> None:
    """Accuracy, macro-F1, per-label scores, confusions and errors on FILE (or --cv N on the training data), plus
    the top candidate's accuracy, the fallback rate, reports read as a dialogue act and reliability by confidence."""
    from nlu.evaluate import cross_validate
    from nlu.evaluate import evaluate as run_eval
    from reporta.settings import get_settings

    s = get_settings()
    if heldout is not None:
        from nlu import model as builtin
        from nlu.api import load_parser
        from nlu.evaluate import heldout_summary, heldout_text

        if not heldout.is_dir():
            raise typer.BadParameter(f"{heldout} is not a folder")
        summary = heldout_summary(load_parser(s).parse, heldout)
        trained = builtin.load_model(
            builtin.ensure_model(s.data_dir / "nlu", s.nlu_cache_dir, encoder=s.nlu_sentence_encoder)
        )
        summary["train_seconds"] = round(trained.train_seconds, 1)
        if trained.attribution:
            summary["attribution"] = trained.attribution
        typer.echo(json.dumps(summary, ensure_ascii=False) if as_json else heldout_text(summary))
        return
    if cv:
        report = cross_validate(
            s.data_dir / "nlu", folds=cv, threshold=s.nlu_fallback_threshold, real=not written_only,
            cache_dir=s.nlu_cache_dir, encoder=s.nlu_sentence_encoder,
        )
    elif file is not None:
        from nlu.api import load_parser
        from nlu.data import read_labelled

        examples = read_labelled(file)
        if not examples:
            raise typer.BadParameter(f"no labelled examples in {file}")
        parser = load_parser(s)
        report = run_eval(parser.parse, examples)
    else:
        raise typer.BadParameter("give FILE or --cv N")
    if predictions is not None:
        from nlu.evaluate import write_predictions

        write_predictions(report.rows, predictions)
    typer.echo(json.dumps(report.to_dict(), ensure_ascii=False) if as_json else report.to_text())
