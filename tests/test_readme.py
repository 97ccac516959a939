"""The README documents every command, option, key and variable, and its examples work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import _parser
from bot.config.types import RULE_KEYS, SOURCE_KEYS, TABLE_KEYS
from bot.config.validate import parse_config
from bot.settings import VARIABLES, Settings
from bot.telegram.commands import COMMANDS

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def subcommands() -> dict[str, list[str]]:
    """Each `vedette` subcommand and its long options, read from the real parser."""
    parser = _parser(Settings())
    action = next(a for a in parser._actions if a.dest == "command")
    choices: dict[str, object] = action.choices  # type: ignore[assignment]
    found = {}
    for name, sub in choices.items():
        options = [
            opt
            for a in sub._actions  # type: ignore[attr-defined]
            for opt in a.option_strings
            if opt.startswith("--") and opt != "--help"
        ]
        found[name] = options
    return found


def test_first_screen_has_install_and_test_commands() -> None:
    """The two commands a newcomer needs are in the first 20 lines."""
    head = "\n".join(README.splitlines()[:20])
    assert "pip install -e . && vedette run" in head
    assert "Python 3.11" in head
    assert 'pip install -e ".[test]" && .ci/check' in head
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && .ci/check' in ci_run


@pytest.mark.parametrize(("command", "options"), sorted(subcommands().items()))
def test_every_command_and_option_is_documented(command: str, options: list[str]) -> None:
    """Every subcommand of the real parser appears, with each of its options."""
    rows = [line for line in README.splitlines() if f"vedette {command}" in line]
    assert rows, f"vedette {command} is not documented"
    for option in options:
        assert any(option in row for row in rows), f"{option} of vedette {command}"
        assert f"`{option}" in README


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_telegram_command_is_documented(name: str) -> None:
    """Every bot command is in the README's command table."""
    assert f"`/{name}`" in README


DOCUMENTED_KEYS = sorted(
    {f"telegram.{key}" for key in TABLE_KEYS["telegram"]}
    | {f"storage.{key}" for key in TABLE_KEYS["storage"]}
    | {f"defaults.{key}" for key in TABLE_KEYS["defaults"]}
    | {f"channels.NAME.{key}" for key in TABLE_KEYS["channels"]}
    | {f"sources.{key}" for keys in SOURCE_KEYS.values() for key in keys}
    | {f"rules.{key}" for keys in RULE_KEYS.values() for key in keys}
)


@pytest.mark.parametrize("key", DOCUMENTED_KEYS)
def test_every_config_key_is_documented(key: str) -> None:
    """Every key the loader accepts, of every kind, has a row in the rules.toml table."""
    assert f"| `{key}` |" in README


@pytest.mark.parametrize("table", sorted(TABLE_KEYS[""]))
def test_every_table_is_documented(table: str) -> None:
    """Every table the loader accepts has a row too."""
    assert any(f"`[{table}" in line or f"`[[{table}" in line for line in README.splitlines())


@pytest.mark.parametrize("kind", [*SOURCE_KEYS, *RULE_KEYS])
def test_every_kind_is_documented(kind: str) -> None:
    """Every source and rule kind is named in the key table."""
    assert f'`"{kind}"`' in README


@pytest.mark.parametrize("variable", VARIABLES)
def test_every_environment_variable_is_documented(variable: str) -> None:
    """Every variable vedette reads is in the environment table."""
    assert f"| `{variable}` |" in README


def test_readme_toml_example_is_a_valid_configuration() -> None:
    """The README's rules.toml example loads as it is."""
    blocks = re.findall(r"```toml\n(.*?)```", README, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        config = parse_config(block, "README.md")
        assert config.rules


def layout_block() -> str:
    """The code block of the README's "Layout" paragraph (Development)."""
    start = README.index("Layout (each module's docstring")
    opening = README.index("```\n", start) + 4
    return README[opening : README.index("```", opening)]


def layout_names(block: str, folder: str) -> set[str]:
    """Module names (without `.py`) written in the block's lines for `folder`: its own line
    and the indented lines that follow it, up to the next folder."""
    lines = block.splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f"{folder}/"))
    depth = len(lines[first]) - len(lines[first].lstrip())
    part = [lines[first]]
    for line in lines[first + 1 :]:
        if len(line) - len(line.lstrip()) <= depth:
            break
        part.append(line)
    return set(re.findall(r"\b([a-z_]+)(?:\.py)?\b", " ".join(part)))


def test_the_layout_paragraph_names_every_module_and_package() -> None:
    """Every module of watchers/ and bot/ and every subpackage of bot/ appears in the
    README's layout, under its folder: the paragraph follows the tree."""
    block = layout_block()
    assert layout_names(block, "watchers") >= {
        p.stem for p in (ROOT / "watchers").glob("*.py") if p.stem != "__init__"
    }
    flat = {p.stem for p in (ROOT / "bot").glob("*.py")} - {"__init__", "__main__"}
    assert {name for name in flat if f"{name}.py" not in block} == set()
    packages = sorted(p.parent for p in (ROOT / "bot").glob("*/__init__.py"))
    assert packages, "bot/ has no subpackages"
    for package in packages:
        modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
        missing = modules - layout_names(block, package.name)
        assert missing == set(), f"bot/{package.name}/: {sorted(missing)} not in the layout"
