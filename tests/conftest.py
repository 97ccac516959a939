"""Shared fixtures: an open store on a real file, and the fakes (they live in tests/fakes/)."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.telegram.sink import TelegramSink
from tests.fakes.adsb_api import adsb_api  # noqa: F401
from tests.fakes.feed_server import feed_server  # noqa: F401
from tests.fakes.opensky_api import opensky_api  # noqa: F401
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI, telegram_api  # noqa: F401
from tests.helpers import REPORT_LINES, fake_bot


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An open store on a real SQLite file, `tmp_path / "vedette.db"`, closed after the test."""
    opened = Store.open(tmp_path / "vedette.db")
    yield opened
    opened.close()


@pytest.fixture
async def telegram_sink(telegram_api: FakeTelegramAPI) -> AsyncIterator[TelegramSink]:  # noqa: F811
    """The real sink over an initialised real PTB Bot and the fake Bot API (the token is its
    secret); afterwards, PTB sent nothing malformed."""
    bot = fake_bot(telegram_api)
    await bot.initialize()
    try:
        yield TelegramSink(bot, secret=TEST_TOKEN)
    finally:
        await bot.shutdown()
    assert telegram_api.violations == []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print the figures tests reported (the labelled headlines' recall and precision)."""
    lines = config.stash.get(REPORT_LINES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)
