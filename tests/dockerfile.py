"""The Dockerfile as data for tests: its instructions, its stages, the final stage's settings."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).parent.parent / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: where it starts, its keyword, and its arguments."""

    line: int
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions, with continuation lines joined and comment lines dropped (as Docker does)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    assert not pending, f"Dockerfile ends inside a continuation started on line {start}"
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def stages() -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    found: list[list[Instruction]] = []
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


FINAL = stages()[-1]


def stage_named(name: str) -> list[Instruction]:
    """The stage declared `FROM … AS name`."""
    for stage in stages():
        if stage[0].args.lower().endswith(f" as {name}"):
            return stage
    raise AssertionError(f"no stage named {name}")


def final(keyword: str) -> list[Instruction]:
    """The final stage's instructions with this keyword."""
    return [i for i in FINAL if i.keyword == keyword]


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT; fails on the shell form."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        pytest.fail(f"not exec form (a JSON array): {args}")
    assert isinstance(value, list), args
    assert value, args
    assert all(isinstance(part, str) for part in value), args
    return value


def variables(instruction: Instruction) -> dict[str, str]:
    """The names and values an ARG or ENV instruction sets (`K=V …`, or legacy `ENV K V`)."""
    words = shlex.split(instruction.args)
    if instruction.keyword == "ENV" and words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.partition("=")[::2] for word in words)


def final_env() -> dict[str, str]:
    """Every variable the final stage's ENV instructions set."""
    env: dict[str, str] = {}
    for instruction in final("ENV"):
        env.update(variables(instruction))
    return env
