from bot.words import plural


def test_one_is_singular_and_others_are_plural() -> None:
    assert plural(1, "item") == "1 item"
    assert plural(0, "item") == "0 items"
    assert plural(2, "failure") == "2 failures"
    assert plural(3, "entry", "entries") == "3 entries"
    assert plural(1, "entry", "entries") == "1 entry"
