"""The docs' promises kept: a unit test per lib/ file (README, docs/ARCHITECTURE.md), and every
subcommand and option of `audiosim --help` documented in docs/CLI.md under its command."""

import re
import subprocess

from conftest import BIN, ROOT

# lib/ files without tests/unit/test_FOLDER_NAME.cpp, each with the reason. An entry must name a
# file that exists and has no test, so that it goes when the reason does.
UNTESTED = {}


def unit_test_of(source):
    """tests/unit/test_FOLDER_NAME.cpp for lib/FOLDER/NAME.cpp (FOLDER_SUB_NAME for lib/FOLDER/SUB/NAME.cpp)."""
    folders = "_".join(source.parent.relative_to(ROOT / "lib").parts)
    return ROOT / "tests" / "unit" / f"test_{folders}_{source.stem}.cpp"


def test_every_lib_file_has_a_unit_test_and_every_unit_test_a_lib_file():
    sources = sorted((ROOT / "lib").rglob("*.cpp"))
    assert len(sources) > 40, "lib/ was not found where the test expects it"
    missing = [str(s.relative_to(ROOT)) for s in sources
               if not unit_test_of(s).exists() and str(s.relative_to(ROOT)) not in UNTESTED]
    assert not missing, f"lib/ files without a unit test (tests/unit/test_FOLDER_NAME.cpp): {missing}"
    for name in UNTESTED:
        assert (ROOT / name).exists(), f"{name} is listed as untested but does not exist: drop it from UNTESTED"
        assert not unit_test_of(ROOT / name).exists(), f"{name} has a unit test now: drop it from UNTESTED"
    expected = {unit_test_of(s).name for s in sources + sorted((ROOT / "lib").rglob("*.hpp"))}  # header-only parts too
    orphans = sorted(p.name for p in (ROOT / "tests" / "unit").glob("test_*.cpp") if p.name not in expected)
    assert not orphans, f"unit tests named for no lib/ file: {orphans}"


def help_of(*command):
    return subprocess.run([BIN, *command, "--help"], capture_output=True, text=True, check=True).stdout


def help_block(text, title):
    """The indented lines under 'Options:' or 'Subcommands:' in CLI11's help."""
    match = re.search(rf"^{title}:\n((?:[ \t].*\n|\n)*)", text, re.M)
    return match.group(1) if match else ""


def long_options(text):
    return set(re.findall(r"^\s+(?:-\w,)?(--[\w-]+)", help_block(text, "Options"), re.M)) - {"--help"}


def subcommands(text):
    return re.findall(r"^  (\w[\w-]*) ", help_block(text, "Subcommands"), re.M)


def cli_sections():
    """docs/CLI.md's '## TITLE' sections: title -> text up to the next one."""
    text = (ROOT / "docs" / "CLI.md").read_text()
    return dict(re.findall(r"^## (.+)\n((?:(?!## ).*\n)*)", text, re.M))


def mentions(section, option):
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", section) is not None


def test_help_parsing_finds_what_it_must():
    top = help_of()
    assert {"--store", "--threads", "--format", "--version"} <= long_options(top)
    assert {"ingest", "embed", "query", "models"} <= set(subcommands(top))
    assert {"list", "show", "check"} <= set(subcommands(help_of("models")))
    assert {"--precision", "--batch-size", "--device"} <= long_options(help_of("embed"))
    assert "--help" not in long_options(top)


def test_every_option_is_documented_under_its_command():
    sections = cli_sections()
    top = help_of()
    undocumented = [f"(global) {option}" for option in sorted(long_options(top))
                    if not mentions(sections["Global options"], option)]
    pending = [[command] for command in subcommands(top)]
    while pending:
        command = pending.pop(0)
        section = sections.get(f"audiosim {command[0]}")
        assert section is not None, f"docs/CLI.md has no section '## audiosim {command[0]}'"
        text = help_of(*command)
        undocumented += [f"{' '.join(command)} {option}" for option in sorted(long_options(text))
                         if not mentions(section, option)]
        pending += [command + [sub] for sub in subcommands(text)]
    assert not undocumented, f"options missing from their section of docs/CLI.md: {undocumented}"
