"""`vedette init [PATH]`: write the commented example `rules.toml`, never over a file.

The example is package data (`bot/data/rules.example.toml`, a copy of the repository's
top-level `rules.toml`, kept equal by a test), so a `pip install` outside the repository has
it too.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

EXAMPLE = "rules.example.toml"


class InitError(Exception):
    """The example could not be written (the file exists, or the path is unusable)."""


@dataclass(frozen=True, slots=True)
class Written:
    """Where the example went, and what to do next."""

    path: Path
    next_steps: tuple[str, ...]


def example_text() -> str:
    """The example configuration shipped in the package."""
    return resources.files("bot").joinpath("data", EXAMPLE).read_text(encoding="utf-8")


def target_of(path: str | Path) -> Path:
    """The file to write: `path`, or `path/rules.toml` when it is an existing directory."""
    target = Path(path)
    return target / "rules.toml" if target.is_dir() else target


def write_example(path: str | Path, *, default_path: str = "rules.toml") -> Written:
    """Write the example to `path` (created exclusively: an existing file is never touched).

    `default_path` is the configuration `vedette check` and `run` read without `--config`;
    the next steps name `--config` only when `path` is another file. Raises InitError.
    """
    target = target_of(path)
    text = example_text()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError as exc:
        if not target.exists():  # a parent is a file, not a directory
            raise InitError(f"cannot write {target}: {exc.filename} is not a directory") from exc
        raise InitError(
            f"{target} already exists: not overwritten (move it away or name another file, "
            "e.g. `vedette init config/rules.toml`)"
        ) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InitError(f"cannot write {target}: {reason}") from exc
    same = Path(default_path).absolute() == target.absolute()
    config = "" if same else f" --config {shlex.quote(str(target))}"
    return Written(
        target,
        (
            f"edit {target}: your channel's chat_id, your Telegram user id in admins, "
            "then the sources and rules",
            f"vedette check{config}",
            f"vedette run{config}    # alerts go to the console until TELEGRAM_BOT_TOKEN is set",
        ),
    )


def init_command(path: str | None, default_path: str) -> int:
    """`vedette init [PATH]`: 0 written, 1 not (the reason on stderr)."""
    try:
        written = write_example(path or default_path, default_path=default_path)
    except InitError as exc:
        print(f"vedette init: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {written.path}: the commented example configuration. Next:")
    for step in written.next_steps:
        print(f"  {step}")
    return 0
