"""Architecture rules that are easy to break by accident."""

from __future__ import annotations

from pathlib import Path

from tests.imports import imported_modules

WATCHERS = Path(__file__).resolve().parent.parent / "watchers"


def test_watchers_never_import_bot() -> None:
    """No module under watchers/ imports bot (or reaches it through a relative import)."""
    files = sorted(WATCHERS.glob("**/*.py"))
    assert files, "watchers/ has no Python files"
    offenders = {
        str(path.relative_to(WATCHERS.parent)): sorted(
            name
            for name in imported_modules(path)
            if name == "bot" or name.startswith(("bot.", ".."))
        )
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_only_bot_telegram_imports_telegram() -> None:
    """No module of bot/ outside bot/telegram/ imports python-telegram-bot (`telegram`): the
    runner wires it through `bot.telegram.app`, and bot/sinks.py (the Sink seam and the
    console sink) stays free of it."""
    package = WATCHERS.parent / "bot"
    files = sorted(
        path for path in package.glob("**/*.py") if path.relative_to(package).parts[0] != "telegram"
    )
    assert package / "sinks.py" in files
    assert package / "runner.py" in files
    offenders = {
        str(path.relative_to(package.parent)): sorted(
            name
            for name in imported_modules(path)
            if name == "telegram" or name.startswith("telegram.")
        )
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_retry_failed_loads_no_telegram_module() -> None:
    """`vedette retry-failed`'s module, `bot.retry`, loads python-telegram-bot nowhere."""
    import subprocess
    import sys

    code = (
        "import sys, bot.retry; "
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'telegram'))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert ran.stdout.strip() == "[]"


def test_the_store_imports_only_the_store_timeutil_words_stories_and_watchers() -> None:
    """Every module under bot/store/ imports only from `bot.store.*`, `bot.timeutil`,
    `bot.words`, `bot.stories` (the pure grouping core), `watchers.*`, the standard library
    and third-party packages other than `telegram`: never news, flights, telegram or config."""
    store = WATCHERS.parent / "bot" / "store"
    files = sorted(store.glob("**/*.py"))
    assert store / "base.py" in files
    allowed_bot = ("bot.store", "bot.timeutil", "bot.words", "bot.stories")

    def allowed(name: str) -> bool:
        if name.startswith("."):
            return not name.startswith("..")  # within bot/store/ only
        top = name.partition(".")[0]
        if top == "bot":
            return name in allowed_bot or name.startswith(tuple(f"{m}." for m in allowed_bot))
        return top != "telegram"  # watchers, the standard library, other packages

    assert not any(map(allowed, ["bot", "bot.news", "bot.config.types", "telegram.ext", ".."]))

    offenders = {
        str(path.relative_to(store.parent.parent)): sorted(
            name for name in imported_modules(path) if not allowed(name)
        )
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def bot_imports(package: str) -> dict[str, list[str]]:
    """For each module under bot/<package>/, the bot modules it imports from outside
    `bot.<package>` (relative imports that leave the package count as outside)."""
    root = WATCHERS.parent / "bot" / package
    files = sorted(root.glob("**/*.py"))
    assert files, f"bot/{package}/ has no Python files"
    inside = f"bot.{package}"
    return {
        str(path.relative_to(WATCHERS.parent)): sorted(
            name
            for name in imported_modules(path)
            if name.startswith("..")
            or (name.partition(".")[0] == "bot" and not name.startswith(f"{inside}."))
        )
        for path in files
    }


def test_the_query_engine_stands_alone() -> None:
    """bot/query/ (the keyword language) imports nothing else from bot: the configuration,
    the story grouping and the benchmarks use it, it uses none of them."""
    offenders = {path: names for path, names in bot_imports("query").items() if names}
    assert offenders == {}


def test_the_configuration_imports_only_the_query_language() -> None:
    """bot/config/ imports from bot only `bot.query` (a rule's query is parsed while the
    file is validated): never the store, the pollers, Telegram or the runner."""
    offenders = {
        path: [name for name in names if not name.startswith("bot.query.")]
        for path, names in bot_imports("config").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert any(bot_imports("config").values()), "expected config to parse queries"
