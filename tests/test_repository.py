"""The repository cites only what it ships.

Users get the repository and nothing else, so:

* no tracked text file may point at the maintainers' private notes: the design contract under
  its old name, or the shared folder outside the repository where it and the tutorial lived;
* every citation of the form ``docs/design.md, §N Title`` must name a heading of
  docs/design.md, number and title alike, so renaming or renumbering a section cannot leave a
  stale citation behind.  A citation may wrap onto the next line (in a docstring, a comment
  or a notebook cell); the title must follow the number.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DESIGN_PAGE = REPO_ROOT / "docs" / "design.md"
TEXT_SUFFIXES = (".py", ".ipynb", ".md", ".c", ".h", ".toml", ".cfg", ".txt")
# Spelled in pieces so that this file does not contain what it looks for.
FORBIDDEN = ("DESIGN" + ".md", "../" + "shared", "/work/" + "shared")
# Folders never searched when git cannot list the tracked files.
UNTRACKED_FOLDERS = {"build", "dist", "__pycache__", ".ipynb_checkpoints"}

CITATION = re.compile(r"docs/design\.md,\s+§(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{2,4}[ \t]+(\d+(?:\.\d+)*)\.?[ \t]+(.+?)[ \t]*$", re.MULTILINE)
# Where a citation wraps: the line break, the indentation and any comment marker after it.
LINE_BREAK = re.compile(r"[ \t]*\n[ \t]*(?:#+[ \t]*|//+[ \t]*|\*(?!\*)[ \t]*)?")


def tracked_text_files() -> list[Path] | None:
    """The tracked files with a text suffix, or None when git cannot list them."""
    git = shutil.which("git")
    if git is None or not (REPO_ROOT / ".git").exists():  # a worktree's .git is a file
        return None
    try:
        listing = subprocess.run(
            [git, "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [name for name in listing.decode("utf-8", "surrogateescape").split("\0") if name]
    paths = [REPO_ROOT / name for name in names if name.endswith(TEXT_SUFFIXES)]
    return [path for path in paths if path.is_file()]  # deleted but not yet committed: skip


def text_files() -> list[Path]:
    """Tracked text files, or every text file outside hidden and build folders without git."""
    tracked = tracked_text_files()
    if tracked is not None:
        return tracked
    found = []
    for path in REPO_ROOT.rglob("*"):
        parts = path.relative_to(REPO_ROOT).parts[:-1]
        hidden = any(part.startswith(".") or part in UNTRACKED_FOLDERS for part in parts)
        if path.is_file() and path.name.endswith(TEXT_SUFFIXES) and not hidden:
            found.append(path)
    return found


def readable_units(path: Path) -> list[tuple[str, str]]:
    """(label, text) pieces of a file as a reader sees them: a notebook cell by cell."""
    raw = path.read_bytes().decode("utf-8", "replace")
    label = str(path.relative_to(REPO_ROOT))
    if path.suffix != ".ipynb":
        return [(label, raw)]
    try:
        cells = json.loads(raw)["cells"]
    except (ValueError, KeyError, TypeError):
        return [(label, raw)]
    units = []
    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        units.append((f"{label}, cell {index}", text))
    return units


def design_sections() -> dict[str, str]:
    """{number: title} of the numbered headings of docs/design.md, backticks removed."""
    text = DESIGN_PAGE.read_text(encoding="utf-8")
    return {number: title.replace("`", "") for number, title in HEADING.findall(text)}


def test_design_page_numbers_its_sections_once_each():
    text = DESIGN_PAGE.read_text(encoding="utf-8")
    numbers = [number for number, _ in HEADING.findall(text)]
    assert len(numbers) == len(set(numbers)), f"a section number is used twice: {numbers}"
    sections = design_sections()
    top = [n for n in numbers if "." not in n]
    # Sections 1..9 exist since the page was written; new ones only ever come after them.
    assert top == [str(n) for n in range(1, len(top) + 1)] and len(top) >= 9, top
    for number in sections:  # every subsection sits under its section
        parent = number.rsplit(".", 1)[0]
        assert "." not in number or parent in sections, f"§{number} has no §{parent}"


def test_no_file_points_outside_the_repository():
    files = tracked_text_files()
    if files is None:
        pytest.skip("git or the .git folder is not available to list the tracked files")
    offenders = []
    for path in files:
        raw = path.read_bytes().decode("utf-8", "replace")
        # The file as stored and as read (a notebook's JSON may escape what its cells show).
        readable = "\n".join(text for _, text in readable_units(path))
        for needle in FORBIDDEN:
            if needle not in raw and needle not in readable:
                continue
            lines = [number for number, line in enumerate(raw.splitlines(), 1) if needle in line]
            where = lines[0] if lines else "?"
            offenders.append(f"{path.relative_to(REPO_ROOT)}:{where}: {needle}")
    assert not offenders, (
        "these files point at files users of the repository never get; cite docs/design.md "
        "(or the tutorial as the README does) instead:\n" + "\n".join(offenders)
    )


def test_every_design_citation_names_an_existing_section():
    sections = design_sections()
    citations = 0
    problems = []
    for path in text_files():
        for label, text in readable_units(path):
            for match in CITATION.finditer(text):
                citations += 1
                number = match.group(1)
                line = text.count("\n", 0, match.start()) + 1
                where = f"{label}:{line}"
                if number not in sections:
                    problems.append(f"{where}: §{number} is not a section of docs/design.md")
                    continue
                title = sections[number]
                following = LINE_BREAK.sub(" ", text[match.end() : match.end() + len(title) + 80])
                following = following.replace("`", "").lstrip()
                matches_title = (
                    following.startswith(title)
                    and not following[len(title) : len(title) + 1].isalnum()
                )
                if not matches_title:
                    problems.append(
                        f"{where}: §{number} must be followed by its title {title!r}, "
                        f"got {following[: len(title) + 10]!r}"
                    )
    assert not problems, (
        "cite docs/design.md as 'docs/design.md, §N Title' with a heading that exists:\n"
        + "\n".join(problems)
    )
    # The check found the citations it exists for (a broken pattern would pass vacuously).
    assert citations >= 20
