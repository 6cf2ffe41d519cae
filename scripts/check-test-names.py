#!/usr/bin/env python3
"""Fails when a Catch2 test case's name holds a ';'.

CTest's list separator is ';': catch_discover_tests cuts such a name in two,
and each half matches no test case, which Catch2 then reports as passed. A
test case named so would never run."""
import pathlib
import re
import sys

TEST_CASE = re.compile(r'TEST_CASE(?:_METHOD)?\s*\((?:\s*[A-Za-z_:<>]+\s*,)?\s*((?:"(?:[^"\\]|\\.)*"\s*)+)', re.S)

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
found = []
for path in sorted((root / "tests").rglob("*.cpp")):
    for match in TEST_CASE.finditer(path.read_text()):
        name = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(1)))
        if ";" in name:
            found.append(f"{path.relative_to(root)}: {name}")
for line in found:
    print(f"a test case name with ';' never runs under CTest: {line}")
sys.exit(1 if found else 0)
