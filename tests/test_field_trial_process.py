"""Field trial (issue 9), `vedette` as a real process: variables, signals, the database lock,
exit codes, a closed stdout, a read-only directory."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.store import Store
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.helpers import config_text
from tests.process import env, vedette, wait_for, write_config

BAD = {
    "TELEGRAM_BOT_TOKEN_FILE": "/nope",
    "VEDETTE_LOG_LEVEL": "verbose",
    "OPENSKY_CLIENT_ID": "only-half",
}


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """Wait for the process; its exit code, stdout and stderr."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, out, err


def spawn(tmp_path: Path, *args: str, **extra: Any) -> subprocess.Popen[str]:
    """`python -m bot ARGS` with stderr to `err.log` (read while it runs) and no token."""
    token = extra.pop("token", None)
    with (tmp_path / "err.log").open("w", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=tmp_path,
            env=env(token, **extra),
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )


def log_of(tmp_path: Path) -> str:
    return (tmp_path / "err.log").read_text(encoding="utf-8")


def console_config(tmp_path: Path, feed_server: FeedServer, **kwargs: Any) -> None:
    """rules.toml with one feed, for the console (no Telegram)."""
    text = config_text("http://127.0.0.1:9", {"news": feed_server.url("/feed")}, **kwargs)
    (tmp_path / "rules.toml").write_text(text, encoding="utf-8")


# Findings 21, 36: --help, --version and the commands that do not use a variable


def test_help_and_version_work_whatever_the_environment(tmp_path: Path) -> None:
    """`--help` lists every command, the variables, exit codes and examples."""
    code, out, err = finish(vedette(tmp_path, "--help", token=None, **BAD))
    assert (code, err) == (0, "")
    for word in ("run", "check", "status", "healthcheck", "TELEGRAM_BOT_TOKEN_FILE"):
        assert word in out
    assert "exit codes:" in out
    assert "examples:" in out
    code, out, _ = finish(vedette(tmp_path, "run", "--help", token=None, **BAD))
    assert code == 0
    assert "nothing is written to it" in " ".join(out.split())
    code, out, _ = finish(vedette(tmp_path, "--version", token=None, **BAD))
    assert code == 0
    assert out.startswith("vedette ")


def test_check_status_and_healthcheck_ignore_run_only_variables(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A bad token file, log level or half OpenSky pair breaks only `run`."""
    console_config(tmp_path, feed_server)
    Store.open(tmp_path / "vedette.db").close()
    code, out, err = finish(vedette(tmp_path, "check", token=None, **BAD))
    assert code == 0, err
    code, out, err = finish(vedette(tmp_path, "status", token=None, **BAD))
    assert code == 0, err
    assert "never started on this database" in out
    code, out, err = finish(vedette(tmp_path, "healthcheck", token=None, **BAD))
    assert code == 1
    assert out.startswith("unhealthy: ")
    code, out, err = finish(vedette(tmp_path, "run", "--once", token=None, **BAD))
    assert code == 2
    assert err.startswith("vedette: ")
    assert "Traceback" not in err


# Findings 7, 8: token files


def test_run_refuses_an_empty_or_utf16_token_file(tmp_path: Path, feed_server: FeedServer) -> None:
    """Exit 2 with the variable and the file named; never the console sink."""
    console_config(tmp_path, feed_server, alert_existing=True)
    (tmp_path / "tok").write_bytes(b"")
    (tmp_path / "tok16").write_bytes(b"\xff\xfe1\x002\x00")
    code, out, err = finish(vedette(tmp_path, "run", "--once", TELEGRAM_BOT_TOKEN_FILE="tok"))
    assert code == 2
    assert err.startswith("vedette: TELEGRAM_BOT_TOKEN_FILE: tok is empty")
    assert out == ""
    code, _, err = finish(vedette(tmp_path, "check", TELEGRAM_BOT_TOKEN_FILE="tok16"))
    assert code == 0, err
    code, _, err = finish(vedette(tmp_path, "run", TELEGRAM_BOT_TOKEN_FILE="tok16"))
    assert (code, err) == (2, "vedette: TELEGRAM_BOT_TOKEN_FILE: tok16 is not UTF-8 text\n")
    assert not (tmp_path / "vedette.db").exists()


# Findings 12, 43: one vedette per database


def test_a_second_run_is_refused_while_status_and_a_dry_run_work(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The second `run` names the first; reads and dry runs do not need the lock."""
    feed_server.route("/feed", body=rss([Entry("Haftar", link="https://n.example/1")]))
    console_config(tmp_path, feed_server)
    lock = tmp_path / "vedette.db.lock"
    first = spawn(tmp_path, "run")
    try:
        wait_for(lambda: lock.exists() and lock.read_text() == f"{first.pid}\n", "the lock")
        code, _, err = finish(vedette(tmp_path, "run", "--once", token=None))
        assert code == 1
        assert f"another vedette (pid {first.pid}) is using vedette.db" in err
        code, _, err = finish(vedette(tmp_path, "status", token=None))
        assert code == 0, err
        wait_for(lambda: finish(vedette(tmp_path, "healthcheck"))[0] == 0, "healthy")
        code, _, err = finish(vedette(tmp_path, "run", "--once", "--dry-run", token=None))
        assert code == 0, err
        assert "dry run: working on a copy of vedette.db; nothing is written to it" in err
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
    finally:
        first.kill()
    assert lock.exists()  # left behind, as after a kill: it must not block
    code, _, err = finish(vedette(tmp_path, "run", "--once", token=None))
    assert code == 0, err


# Findings 11, 16, 35: --once stops on SIGTERM, exit codes, the start-up line


def test_sigterm_stops_run_once_during_a_hanging_poll(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The poll is cancelled: the process ends long before the 20 s read timeout."""
    feed_server.route("/feed", hang=True)
    console_config(tmp_path, feed_server)
    proc = vedette(tmp_path, "run", "--once", token=None)
    try:
        wait_for(lambda: bool(feed_server.requests), "the poll")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopping before every source was polled" in err
    assert "Traceback" not in err


def test_run_once_exits_3_when_a_source_fails_and_says_what_it_watches(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A failed source is exit 3 (documented), after a start-up line saying what runs."""
    feed_server.route("/feed", status=500)
    console_config(tmp_path, feed_server)
    code, _, err = finish(vedette(tmp_path, "run", "--once", token=None))
    assert code == 3, err
    assert "polling 1 source (1 news, 0 flight), 1 rule, 1 channel once" in err
    assert "1 of 1 source failed: news" in err
    # A dry run is a preview: 0 whatever its sources did, each failure in the log.
    code, _, err = finish(vedette(tmp_path, "run", "--once", "--dry-run", token=None))
    assert code == 0, err
    assert "1 of 1 source failed: news" in err
    proc = spawn(tmp_path, "run")
    try:
        wait_for(lambda: "watching" in log_of(tmp_path), "the start-up line")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        proc.kill()
    assert (
        "watching 1 source (1 news, 0 flight), 1 rule, 1 channel; the first poll of 1 new "
        "source records what is there without alerting" in log_of(tmp_path)
    )


# Finding 26: SIGHUP during start-up


def test_sighup_during_start_up_is_queued_not_fatal(
    tmp_path: Path, telegram_api: FakeTelegramAPI, feed_server: FeedServer
) -> None:
    """SIGHUP while vedette still reads its token file: it lives, and reloads once ready."""
    feed_server.route("/feed", body=rss([Entry("Old", link="https://n.example/1")]))
    write_config(tmp_path, telegram_api, feed_server)
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    proc = spawn(tmp_path, "run", TELEGRAM_BOT_TOKEN_FILE=str(fifo))
    try:
        writer = open_writer(fifo)  # returns once vedette opened it: imports are done
        proc.send_signal(signal.SIGHUP)
        os.write(writer, TEST_TOKEN.encode())
        os.close(writer)
        wait_for(
            lambda: "reloaded rules.toml" in log_of(tmp_path) or proc.poll() is not None,
            "the reload",
        )
        assert proc.poll() is None, f"SIGHUP ended vedette: exit {proc.returncode}"
        assert "SIGHUP during start-up: reloading the configuration" in log_of(tmp_path)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()


def open_writer(fifo: Path) -> int:
    """Open the FIFO for writing once a reader has it open."""
    fd: list[int] = []

    def opened() -> bool:
        try:
            fd.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            return False
        return True

    wait_for(opened, "vedette to open its token file")
    os.set_blocking(fd[0], True)
    return fd[0]


# Finding 31: a closed stdout


def test_status_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """`vedette status | head -3`: no BrokenPipeError traceback."""
    Store.open(tmp_path / "vedette.db").close()
    read, write = os.pipe()
    os.close(read)  # the reader is gone before vedette writes anything
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "status"],
        cwd=tmp_path,
        env=env(None),
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write)
    _, err = proc.communicate(timeout=30)
    assert err == ""
    assert proc.returncode == 1


# Finding 19: status and healthcheck in a read-only directory


def read_only(directory: Path) -> list[str]:
    """A command prefix under which `directory` cannot be written.

    Not root: the directory's mode. Root ignores modes, so the directory is bind-mounted
    read-only in a private mount namespace (`unshare -m`), where SQLite cannot create
    files either; skipped where that is not allowed.
    """
    if os.geteuid() != 0:
        directory.chmod(0o555)
        return []
    wrap = [
        "unshare",
        "-m",
        "sh",
        "-c",
        'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"',
        str(directory),
    ]
    try:
        probe = subprocess.run([*wrap, "true"], capture_output=True, timeout=30, check=False)
    except OSError:
        probe = None
    if probe is None or probe.returncode != 0:
        pytest.skip("cannot make a read-only directory as root here (no unshare/mount)")
    return wrap


def test_status_and_healthcheck_in_a_read_only_directory(tmp_path: Path) -> None:
    """Read-only: no -shm can be made, so the file is read as immutable; nothing is created."""
    directory = tmp_path / "data"
    directory.mkdir()
    Store.open(directory / "vedette.db").close()
    before = sorted(p.name for p in directory.iterdir())
    prefix = read_only(directory)
    results = []
    try:
        for command in ("status", "healthcheck"):
            proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "bot", command],
                cwd=directory,
                env=env(None),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            results.append(finish(proc))
    finally:
        directory.chmod(0o755)
    (code, out, err), (health, reason, _) = results
    assert code == 0, err
    assert "never started on this database" in out
    assert health == 1
    assert reason.startswith("unhealthy: the bot never ran on this database")
    assert sorted(p.name for p in directory.iterdir()) == before
