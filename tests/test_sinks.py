"""The console sink: alerts printed in full, edits as their one-line note."""

from __future__ import annotations

import io

from bot.sinks import ConsoleSink, Edit, Message, Sent


async def test_the_console_prints_an_alert_then_an_edit_as_its_note() -> None:
    """An alert prints its plain text; an edit (the console cannot change what it printed)
    prints its note under "── edit for CHAT ──", never its whole text; both are Sent."""
    out = io.StringIO()
    sink = ConsoleSink(out)
    alert = Message(1, -100123, "<b>Haftar meets Belavia</b>", "Haftar meets Belavia")
    change = Edit(
        2,
        -100123,
        None,
        "<b>Haftar meets Belavia</b>\n+ BBC (ru)",
        "Haftar meets Belavia\n+ BBC (ru)",
        "same story as #1: + BBC (ru)",
    )
    assert await sink.send(alert) == Sent()
    assert await sink.edit(change) == Sent()
    assert out.getvalue() == (
        "── alert for -100123 ──\nHaftar meets Belavia\n\n"
        "── edit for -100123 ──\nsame story as #1: + BBC (ru)\n\n"
    )
