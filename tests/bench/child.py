"""A helper process the benchmarks talk to: one command per line in, one JSON line out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class JsonLinesChild:
    """This interpreter run with `args` in the repository root; `name` names it in errors."""

    def __init__(self, args: list[str], *, name: str = "the child process") -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        """The next JSON line the child prints."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, text: str) -> dict[str, Any]:
        """Send one command line; return the child's answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        """Close its stdin and wait for it to end."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)
