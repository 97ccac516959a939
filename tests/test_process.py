"""`vedette` as a real process: signals, a crash mid-send, secrets in logs, the CLI."""

from __future__ import annotations

import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.opensky_api import TEST_CLIENT_ID, TEST_CLIENT_SECRET, FakeOpenSky
from tests.fakes.telegram_api import TEST_CHAT_ID, TEST_TOKEN, FakeTelegramAPI
from tests.helpers import config_text
from tests.process import vedette, wait_for, write_config

SECRET = TEST_TOKEN.split(":", 1)[1]


def states(db: Path) -> list[str]:
    """The state of every outbox row."""
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM outbox ORDER BY id")]


def assert_no_secret(*outputs: str) -> None:
    """Neither the token nor its secret half appear."""
    for output in outputs:
        assert TEST_TOKEN not in output
        assert SECRET not in output


def test_sigterm_stops_cleanly_and_logs_no_token(
    tmp_path: Path, telegram_api: FakeTelegramAPI, feed_server: FeedServer
) -> None:
    """SIGTERM ends a busy run with exit 0, every alert sent, no row mid-send, no token logged."""
    feed_server.route(
        "/feed", body=rss([Entry(f"Haftar {n}", link=f"https://n.example/{n}") for n in range(3)])
    )
    write_config(tmp_path, telegram_api, feed_server)
    telegram_api.fail_next("sendMessage", "500")
    telegram_api.fail_next("sendMessage", "drop")
    telegram_api.fail_next("getMe", "502")
    proc = vedette(tmp_path, "run")
    try:
        wait_for(lambda: len(telegram_api.messages_to(TEST_CHAT_ID)) == 3, "three alerts")
        wait_for(lambda: bool(telegram_api.calls_to("getUpdates")), "command polling")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert states(tmp_path / "vedette.db") == ["sent", "sent", "sent"]
    assert "stopping" in err
    assert "Traceback" not in err
    assert_no_secret(out, err)


def test_kill_mid_send_then_restart_delivers(
    tmp_path: Path, telegram_api: FakeTelegramAPI, feed_server: FeedServer
) -> None:
    """SIGKILL while a send hangs loses nothing: the next start sends the alert again."""
    feed_server.route(
        "/feed", body=rss([Entry("Haftar lands in Minsk", link="https://n.example/1")])
    )
    write_config(tmp_path, telegram_api, feed_server)
    telegram_api.fail_next("sendMessage", "hang", seconds=30)
    proc = vedette(tmp_path, "run", VEDETTE_LOG_LEVEL="DEBUG")
    try:
        wait_for(lambda: bool(telegram_api.calls_to("sendMessage")), "the hanging send")
        assert states(tmp_path / "vedette.db") == ["sending"]
        proc.kill()
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert telegram_api.messages_to(TEST_CHAT_ID) == []
    again = vedette(tmp_path, "run", "--once", VEDETTE_LOG_LEVEL="DEBUG")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "1 alert was mid-send at the last stop" in err
    delivered = telegram_api.messages_to(TEST_CHAT_ID)
    assert len(delivered) == 1
    assert "Haftar lands in Minsk" in delivered[0].visible_text
    assert states(tmp_path / "vedette.db") == ["sent"]
    assert_no_secret(out, err)


def test_rejected_token_is_fatal_and_not_logged(
    tmp_path: Path, telegram_api: FakeTelegramAPI, feed_server: FeedServer
) -> None:
    """A token Telegram rejects stops the bot with exit 1, a clear message and no token."""
    feed_server.route("/feed", body=rss([Entry("Haftar", link="https://n.example/1")]))
    write_config(tmp_path, telegram_api, feed_server)
    wrong = "987654:WRONG-token_abcdefghijklmnopqrstuvwxyz9"
    proc = vedette(tmp_path, "run", token=wrong)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN" in err
    assert wrong not in out + err
    assert wrong.split(":")[1] not in out + err
    assert "sent" not in states(tmp_path / "vedette.db")
    assert "failed" not in states(tmp_path / "vedette.db")


def test_no_token_prints_alerts_to_stdout(tmp_path: Path, feed_server: FeedServer) -> None:
    """Without a token, `run --once` says so once and prints the alert on stdout."""
    feed_server.route("/feed", body=rss([Entry("Belavia to Benghazi", link="https://n.example/1")]))
    text = config_text(
        "http://127.0.0.1:9", {"news": feed_server.url("/feed")}, alert_existing=True
    )
    (tmp_path / "rules.toml").write_text(text, encoding="utf-8")
    proc = vedette(tmp_path, "run", "--once", token=None)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Belavia to Benghazi" in out
    assert err.count("console sink: no TELEGRAM_BOT_TOKEN is set") == 1


def test_bad_config_exits_2_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    """`vedette check` and `vedette run` report each problem as FILE:LINE: where: what."""
    (tmp_path / "rules.toml").write_text(
        '[channels.main]\nchat_id = -1\n\n[[sources]]\nid = "a"\nkind = "rss"\n'
        'url = "https://example.org/rss"\nevery = "often"\n\n[[rules]]\nid = "r"\n'
        'kind = "keywords"\nquery = "haftar AND"\nchannel = "elsewhere"\n',
        encoding="utf-8",
    )
    for command in ("check", "run"):
        proc = vedette(tmp_path, command)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, (command, err)
        assert "Traceback" not in err
        lines = [line for line in err.splitlines() if line.startswith("rules.toml:")]
        assert lines[0] == (
            'rules.toml:8: sources.a.every: bad duration "often": use a number and s, m, h '
            'or d, like "5m"'
        )
        assert lines[1].startswith("rules.toml:13: rules.r.query: column ")
        assert (
            lines[2] == 'rules.toml:14: rules.r.channel: unknown channel "elsewhere" (known: main)'
        )
        assert "rules.toml: 3 problems" in err


def test_check_run_once_and_status(
    tmp_path: Path, telegram_api: FakeTelegramAPI, feed_server: FeedServer
) -> None:
    """`check` a good file, `status` before any run (exit 1), `run --once`, then `status`."""
    feed_server.route("/feed", body=rss([Entry("Haftar", link="https://n.example/1")]))
    write_config(tmp_path, telegram_api, feed_server)
    check = vedette(tmp_path, "check")
    out, err = check.communicate(timeout=30)
    assert check.returncode == 0, err
    assert "rules.toml: ok — 1 source, 1 rule, 1 channel" in out
    early = vedette(tmp_path, "status")
    out, err = early.communicate(timeout=30)
    assert early.returncode == 1
    assert "no database at vedette.db" in err
    assert not (tmp_path / "vedette.db").exists()
    once = vedette(tmp_path, "run", "--once")
    _, err = once.communicate(timeout=60)
    assert once.returncode == 0, err
    status = vedette(tmp_path, "status")
    out, err = status.communicate(timeout=30)
    assert status.returncode == 0, err
    assert "outbox: 0 pending, 1 sent, 0 failed" in out
    assert "✓ news (rss): ok " in out


def test_opensky_credentials_are_used_and_never_logged(
    tmp_path: Path, opensky_api: FakeOpenSky, telegram_api: FakeTelegramAPI
) -> None:
    """With OPENSKY_CLIENT_ID/SECRET the bot authenticates; the secret appears in no output."""
    opensky_api.credits = 10**6
    opensky_api.require_auth = True
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    for days in (3, 5, 7):
        departure = today - timedelta(days=days)
        opensky_api.add_flight(
            icao24="510123", first_seen=departure, last_seen=departure + timedelta(hours=4)
        )
    (tmp_path / "rules.toml").write_text(
        f'[telegram]\napi_url = "{telegram_api.url}"\n\n'
        f"[channels.main]\nchat_id = {TEST_CHAT_ID}\n\n"
        '[[sources]]\nid = "sky"\nkind = "opensky"\nairports = ["HLLB", "UMMS"]\n'
        f'api_url = "{opensky_api.api_url}"\nauth_url = "{opensky_api.auth_url}"\n\n'
        '[[rules]]\nid = "ben-msq"\nkind = "route"\nfrom = "BEN"\nto = "MSQ"\n'
        'window = "30d"\nat_least = 3\nchannel = "main"\n',
        encoding="utf-8",
    )
    proc = vedette(
        tmp_path,
        "run",
        "--once",
        VEDETTE_LOG_LEVEL="DEBUG",
        OPENSKY_CLIENT_ID=TEST_CLIENT_ID,
        OPENSKY_CLIENT_SECRET=TEST_CLIENT_SECRET,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert opensky_api.tokens_issued >= 1
    assert all(request.has_auth for request in opensky_api.requests)
    (message,) = telegram_api.messages_to(TEST_CHAT_ID)
    assert message.visible_text.startswith("✈ BEN→MSQ: 3 flights in the last 30 days")
    assert TEST_CLIENT_SECRET not in out + err
    assert_no_secret(out, err)
    status = vedette(tmp_path, "status")
    out, err = status.communicate(timeout=30)
    assert "ben-msq [FIRING]: BEN→MSQ: 3 in 30 days" in out
    assert "sky (opensky): ok" in out
    assert TEST_CLIENT_SECRET not in out + err


def test_healthcheck_follows_the_running_bot(
    tmp_path: Path, telegram_api: FakeTelegramAPI, feed_server: FeedServer
) -> None:
    """Unhealthy before any run, healthy while running, unhealthy once stopped."""
    feed_server.route("/feed", body=rss([Entry("Old", link="https://n.example/1")]))
    write_config(tmp_path, telegram_api, feed_server)

    def check() -> tuple[int, str]:
        proc = vedette(tmp_path, "healthcheck")
        out, _ = proc.communicate(timeout=30)
        return proc.returncode, out.strip()

    assert check() == (1, "unhealthy: no database at vedette.db")
    proc = vedette(tmp_path, "run")
    try:
        wait_for(lambda: (tmp_path / "vedette.db").exists() and check()[0] == 0, "healthy")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    code, reason = check()
    assert code == 1
    assert reason.startswith("unhealthy: the bot stopped")
