"""vedette: news and flight alerts, posted once to Telegram."""

__version__ = "0.2.0"
