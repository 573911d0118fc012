"""``reporta init DIR``: copy the editable data (catalog, templates, NLU data, canned responses...) to a
municipality's own folder, and say how to use it (``REPORTA_DATA_DIR``). See ``reporta.datadir``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``reporta init``."""

    @app.command("init")
    def init(
        directory: Path = typer.Argument(..., help="Folder for the municipality's data (created if missing)."),
        force: bool = typer.Option(False, "--force", help="Overwrite files that are already there."),
    ) -> None:
        """Copy the default data (catalog.yml, templates/, nlu/, ...) to DIR for a municipality to edit."""
        from reporta.datadir import InitError, init_data_dir
        from reporta.settings import DEFAULT_DATA_DIR

        try:
            result = init_data_dir(DEFAULT_DATA_DIR, directory, overwrite=force)
        except InitError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        target = result.target
        tops = sorted({p.parts[0] + ("/" if len(p.parts) > 1 else "") for p in result.copied})
        typer.echo(f"copied {len(result.copied)} files to {target}: {', '.join(tops) or 'nothing new'}")
        if result.kept:
            typer.echo(f"kept {len(result.kept)} files that were already there (--force overwrites them)")
        typer.echo(
            "\nUse it:\n"
            f"  export REPORTA_DATA_DIR={target}      # or REPORTA_DATA_DIR={target} in .env\n"
            f"  reporta catalog check                 # after editing {target / 'catalog.yml'}\n"
            "  reporta nlu train                     # after editing nlu/ (the model is also retrained on start)\n"
            "Edit catalog.yml (departments, categories, due dates), templates/es-MX/*.j2 (what citizens read)\n"
            "and nlu/*.yml (example phrases)."
        )
