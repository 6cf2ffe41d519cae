#!/usr/bin/env python3
"""Checks that every C++ block of the docs is cut from a compiled source.

usage: scripts/check-snippets.py [--fix] [--root DIR] [DOC...]

Each ```cpp block of README.md and docs/*.md (or of the DOCs given) names its
source on the line right above it:

    <!-- snippet: examples/embedding/echo_service.hpp#echo-service -->
    ```cpp
    ...
    ```

and the source (a file the build compiles: an example, a test) marks the
region:

    // [snippet:echo-service]
    ...
    // [snippet-end:echo-service]

The block must be the region, rendered thus:
- the marker lines themselves are left out; regions may nest or overlap;
- `// [snippet-skip]` ... `// [snippet-resume]` leaves out the lines between
  and shows one `// ...` in their place, indented as the skip marker (what a
  reader of the docs needs to know: something is there);
- each stretch of lines between skips is dedented by its common indentation,
  so that a region may start inside a function;
- blank lines at the start and the end are dropped, trailing spaces too.

Lines are compared exactly. Exits 1, naming the doc, the snippet and the
first line that differs, when a block differs from its region, names no
source or names one that does not exist; 0 when every block matches. --fix
rewrites the blocks from their regions (the docs follow the sources, never
the other way), and still fails on blocks it cannot fix.
"""

import argparse
import glob
import os
import re
import sys

SOURCE_COMMENT = re.compile(r"^<!--\s*snippet:\s*(?P<path>[^#\s]+)#(?P<name>[\w.-]+)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>\S*)")
MARKER = re.compile(r"^\s*// \[snippet(?P<kind>|-end|-skip|-resume)(?::(?P<name>[\w.-]+))?\]\s*$")
ELISION = "// ..."


class SnippetError(Exception):
    """A problem with one block or one region, already phrased for the reader."""


class Region:
    """The rendered lines of one marked region, each with its source line number
    (None for an elision)."""

    def __init__(self, path, name, lines, numbers):
        self.path = path
        self.name = name
        self.lines = lines
        self.numbers = numbers


def indentation(line):
    return len(line) - len(line.lstrip(" "))


def dedent(stretch):
    """`stretch` ([(number, text)]) shifted left by its common indentation."""
    widths = [indentation(text) for _, text in stretch if text.strip()]
    shift = min(widths, default=0)
    return [(number, text[shift:] if text.strip() else "") for number, text in stretch], shift


def parse_marker(path, number, line):
    """(kind, name) of a marker line, None for other lines; SnippetError on a
    marker that is malformed."""
    match = MARKER.match(line)
    if match is None:
        if "// [snippet" in line:
            raise SnippetError(f"{path}:{number}: not a snippet marker: {line.strip()!r}")
        return None
    kind, name = match["kind"], match["name"]
    if kind in ("", "-end") and name is None:
        raise SnippetError(f"{path}:{number}: // [snippet{kind}:NAME] needs a name")
    if kind in ("-skip", "-resume") and name is not None:
        raise SnippetError(f"{path}:{number}: // [snippet{kind}] takes no name")
    return kind, name


def render_region(root, path, name):
    """The Region `name` of the source `path` (relative to `root`)."""
    full = os.path.join(root, path)
    if os.path.isabs(path) or os.path.relpath(os.path.realpath(full), root).startswith(".."):
        raise SnippetError(f"{path}: sources are paths inside the repository")
    try:
        with open(full, encoding="utf-8") as source:
            text = source.read().split("\n")
    except OSError as error:
        raise SnippetError(f"{path}: cannot read the source: {error.strerror}") from None

    inside = False
    skipping = None  # the line number of the open skip marker
    stretches = [[]]  # shown lines, split where a skip elides some
    elisions = []  # the indentation of each elision, between stretches
    for number, line in enumerate(text, start=1):
        marker = parse_marker(path, number, line)
        if marker == ("", name):
            if inside:
                raise SnippetError(f"{path}:{number}: region {name!r} starts twice")
            inside = True
            start = number
        elif marker == ("-end", name):
            if not inside:
                raise SnippetError(f"{path}:{number}: region {name!r} ends before it starts")
            if skipping is not None:
                raise SnippetError(
                    f"{path}:{skipping}: a skip in region {name!r} has no // [snippet-resume]"
                )
            break
        elif not inside:
            continue
        elif marker == ("-skip", None):
            if skipping is not None:
                raise SnippetError(f"{path}:{number}: a skip inside a skip")
            skipping = number
            elisions.append(indentation(line))
            stretches.append([])
        elif marker == ("-resume", None):
            if skipping is None:
                raise SnippetError(f"{path}:{number}: // [snippet-resume] without a skip")
            skipping = None
        elif marker is None and skipping is None:
            stretches[-1].append((number, line.rstrip()))
    else:
        if inside:
            raise SnippetError(f"{path}:{start}: region {name!r} has no // [snippet-end:{name}]")
        raise SnippetError(f"{path}: no region {name!r} (// [snippet:{name}])")

    rendered = []
    previous_shift = None
    for index, stretch in enumerate(stretches):
        lines, shift = dedent(stretch)
        if index > 0:
            # An elision sits at the indentation of the code around it.
            base = previous_shift if previous_shift is not None else shift
            rendered.append((None, " " * max(elisions[index - 1] - base, 0) + ELISION))
        rendered.extend(lines)
        previous_shift = shift if stretch else previous_shift
    while rendered and rendered[0][1] == "":
        rendered.pop(0)
    while rendered and rendered[-1][1] == "":
        rendered.pop()
    return Region(path, name, [text for _, text in rendered], [number for number, _ in rendered])


class Block:
    """One ```cpp block of a doc: where its lines are, and the source it names."""

    def __init__(self, doc, opening, closing, source):
        self.doc = doc
        self.opening = opening  # index of the opening fence line
        self.closing = closing  # index of the closing fence line
        self.source = source  # (path, name), or None


def find_blocks(doc, lines):
    """Every ```cpp block of `lines`; fences of other languages are skipped whole."""
    blocks = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence = match["fence"]
        closing = index + 1
        while closing < len(lines) and not re.match(
            rf"^ *{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[closing]
        ):
            closing += 1
        if closing == len(lines):
            raise SnippetError(f"{doc}:{index + 1}: a code block that never ends")
        if match["info"] in ("cpp", "c++"):
            comment = SOURCE_COMMENT.match(lines[index - 1]) if index > 0 else None
            source = (comment["path"], comment["name"]) if comment else None
            blocks.append(Block(doc, index, closing, source))
        index = closing + 1
    return blocks


def first_difference(block_lines, region):
    """The index of the first line where the block and the region differ, or None."""
    for index in range(max(len(block_lines), len(region.lines))):
        mine = block_lines[index] if index < len(block_lines) else None
        theirs = region.lines[index] if index < len(region.lines) else None
        if mine != theirs:
            return index
    return None


def describe_difference(block, lines, region, index):
    snippet = f"{region.path}#{region.name}"
    block_lines = lines[block.opening + 1 : block.closing]
    doc_line = block.opening + 2 + index
    mine = repr(block_lines[index]) if index < len(block_lines) else "(the block has ended)"
    if index < len(region.lines):
        number = region.numbers[index]
        where = f"{region.path}:{number}" if number is not None else "an elision"
        theirs = repr(region.lines[index])
    else:
        where, theirs = region.path, "(the region has ended)"
    return (
        f"{block.doc}:{doc_line}: the block of snippet {snippet} differs from its source "
        f"at line {index + 1} of the block\n"
        f"    doc    ({block.doc}:{doc_line}): {mine}\n"
        f"    source ({where}): {theirs}"
    )


def check_doc(root, doc, fix):
    """(how many ```cpp blocks, the problems of each as messages) of one doc;
    with `fix`, rewrites the blocks that differ from their regions."""
    path = os.path.join(root, doc)
    with open(path, encoding="utf-8") as file:
        lines = file.read().split("\n")
    blocks = find_blocks(doc, lines)
    problems = []
    changed = False
    # From the last block to the first, so that rewriting one keeps the
    # positions of the others.
    for block in reversed(blocks):
        if block.source is None:
            problems.append(
                f"{doc}:{block.opening + 1}: a ```cpp block names no source: put "
                "<!-- snippet: PATH#REGION --> on the line above it"
            )
            continue
        try:
            region = render_region(root, *block.source)
        except SnippetError as error:
            problems.append(f"{doc}:{block.opening}: {error}")
            continue
        block_lines = lines[block.opening + 1 : block.closing]
        index = first_difference(block_lines, region)
        if index is None:
            continue
        if fix:
            lines[block.opening + 1 : block.closing] = region.lines
            changed = True
            print(f"{doc}:{block.opening + 1}: rewrote the block from {region.path}#{region.name}")
        else:
            problems.append(describe_difference(block, lines, region, index))
    if changed:
        with open(path, "w", encoding="utf-8") as file:
            file.write("\n".join(lines))
    return len(blocks), list(reversed(problems))


def default_docs(root):
    docs = ["README.md"] + sorted(
        os.path.relpath(path, root) for path in glob.glob(os.path.join(root, "docs", "*.md"))
    )
    return [doc for doc in docs if os.path.isfile(os.path.join(root, doc))]


def main(argv):
    parser = argparse.ArgumentParser(
        description="Checks (or, with --fix, rewrites) the ```cpp blocks of the docs "
        "against the marked regions of the sources they name."
    )
    parser.add_argument("--fix", action="store_true", help="rewrite the blocks from their sources")
    parser.add_argument(
        "--root",
        default=os.path.dirname(os.path.dirname(os.path.realpath(__file__))),
        help="the repository (default: the one holding this script)",
    )
    parser.add_argument(
        "docs", nargs="*", help="docs relative to the root (default: README.md docs/*.md)"
    )
    arguments = parser.parse_args(argv)
    root = os.path.realpath(arguments.root)
    docs = arguments.docs or default_docs(root)

    problems = []
    blocks = 0
    for doc in docs:
        try:
            count, found = check_doc(root, doc, arguments.fix)
            blocks += count
            problems += found
        except (OSError, SnippetError) as error:
            problems.append(f"{doc}: {error}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"check-snippets: {len(problems)} problem(s) in the ```cpp blocks of {len(docs)} docs; "
            "the sources are the truth: edit them (they are compiled and tested), then run "
            "scripts/check-snippets.py --fix",
            file=sys.stderr,
        )
        return 1
    print(f"check-snippets: {blocks} ```cpp blocks of {len(docs)} docs match their sources")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
