"""Shared fixtures. The fakes live in tests/fakes/ and are imported here."""

from tests.fakes.adsb_api import adsb_api  # noqa: F401
from tests.fakes.feed_server import feed_server  # noqa: F401
from tests.fakes.opensky_api import opensky_api  # noqa: F401
from tests.fakes.telegram_api import telegram_api  # noqa: F401
