"""Everything that talks to Telegram through python-telegram-bot.

- `bot.telegram.app`: the Application's life in a run (start, polling, stop, in PTB's
  order), the sink built on its bot, and `use_timedeltas`, PTB's process-wide setting.
- `bot.telegram.commands`: the bare Application, `Commands` (one bound handler per admin
  command) and `register`, the one place where handlers are added.
- `bot.telegram.replies`: what the admin commands answer, and the channel check at start.
- `bot.telegram.sink`: the Telegram sink, one `sendMessage` and one outcome back.

Only this package imports `telegram`; the runner (`bot.runner`) uses it through
`bot.telegram.app`, and the `Sink` seam (`bot.sinks`) knows nothing of it.
"""
