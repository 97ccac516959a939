"""Everything that talks to Telegram through python-telegram-bot.

- `bot.telegram.commands`: the application and the admin command handlers.
- `bot.telegram.replies`: what the admin commands answer, and the channel check at start.
- `bot.telegram.sink`: the Telegram sink, one `sendMessage` and one outcome back.

Only this package (and the runner's wiring) imports `telegram`.
"""
