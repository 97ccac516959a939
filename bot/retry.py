"""Requeueing alerts that failed for good: `vedette retry-failed`, and the words it shares
with Telegram's `/retry` (`bot.telegram.replies.retry_reply`).

Outside `bot.telegram` so that the CLI command does not import python-telegram-bot.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

from bot.store import Store
from bot.store.base import StoreError
from bot.words import plural

log = logging.getLogger(__name__)


def retry_failed_command(db_path: str, rule_id: str | None, now: datetime) -> int:
    """`vedette retry-failed`: requeue failed alerts in the database; the exit code (0; 1
    when there is no database or it cannot be written)."""
    if not Path(db_path).is_file():
        print(
            f"vedette: no database at {db_path} (has `vedette run` used it yet?)", file=sys.stderr
        )
        return 1
    try:
        store = Store.open(db_path)
        try:
            count = store.retry_failed(now, rule_id)
        finally:
            store.close()
    except StoreError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return 1
    print(requeued_text(count, rule_id, "by the running bot (within 30s) or the next run"))
    return 0


def requeued_text(count: int, rule_id: str | None, when: str = "shortly") -> str:
    """What `/retry` and `vedette retry-failed` say."""
    of = f" of rule {rule_id}" if rule_id else ""
    if not count:
        return f"no failed alerts{of} to requeue"
    log.info("requeued %s%s", plural(count, "failed alert"), of)
    return f"requeued {plural(count, 'failed alert')}{of}: they are sent again {when}"
