"""Shared fixtures. The fakes live in tests/fakes/ and are imported here."""

from tests.fakes.feed_server import feed_server  # noqa: F401
from tests.fakes.telegram_api import telegram_api  # noqa: F401
