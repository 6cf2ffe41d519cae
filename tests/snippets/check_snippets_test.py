#!/usr/bin/env python3
"""scripts/check-snippets.py on small repositories of its own: what it accepts,
what it refuses and with which message, how it renders a region, what --fix does.

usage: check_snippets_test.py (PROCESSPYPE_CHECK_SNIPPETS names the script;
default: the one of this checkout)
"""

import os
import subprocess
import sys
import tempfile
import unittest

CHECKER = os.environ.get(
    "PROCESSPYPE_CHECK_SNIPPETS",
    os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "check-snippets.py"),
)

SOURCE = """\
#include <string>

// [snippet:greeting]
std::string greeting(const std::string& name) {
  // [snippet-skip]
  if (name.empty()) return "Hello";
  // [snippet-resume]
  return "Hello, " + name;
}
// [snippet-end:greeting]

int main() {
  // [snippet:call]
  auto text = greeting("you");
  // [snippet-end:call]
  return text.empty();
}
"""

GREETING = """\
std::string greeting(const std::string& name) {
  // ...
  return "Hello, " + name;
}"""

CALL = 'auto text = greeting("you");'
CALL_SOURCE = "<!-- snippet: src/main.cpp#call -->"


def doc_with(block, comment="<!-- snippet: src/main.cpp#greeting -->"):
    return f"# Greeting\n\nSome text.\n\n{comment}\n```cpp\n{block}\n```\n\nMore text.\n"


class CheckSnippetsTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.root = self.directory.name
        self.write("src/main.cpp", SOURCE)

    def tearDown(self):
        self.directory.cleanup()

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as file:
            file.write(text)

    def read(self, path):
        with open(os.path.join(self.root, path), encoding="utf-8") as file:
            return file.read()

    def check(self, *arguments):
        return subprocess.run(
            [sys.executable, "-B", CHECKER, "--root", self.root, *arguments],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def assertFailsWith(self, result, *parts):
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        for part in parts:
            self.assertIn(part, result.stderr)

    def test_a_block_equal_to_its_region_passes(self):
        self.write("README.md", doc_with(GREETING))
        result = self.check()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("1 ```cpp blocks of 1 docs match", result.stdout)

    def test_docs_default_to_the_readme_and_every_doc_under_docs(self):
        self.write("README.md", "No code.\n")
        self.write("docs/guide.md", doc_with(GREETING.replace("Hello", "Bye")))
        self.assertFailsWith(self.check(), "docs/guide.md:9:")

    def test_a_changed_line_fails_naming_the_doc_the_snippet_and_both_lines(self):
        self.write("README.md", doc_with(GREETING.replace('"Hello, "', '"Hi, "')))
        self.assertFailsWith(
            self.check(),
            "README.md:9: the block of snippet src/main.cpp#greeting differs from its source "
            "at line 3 of the block",
            "doc    (README.md:9): '  return \"Hi, \" + name;'",
            "source (src/main.cpp:8): '  return \"Hello, \" + name;'",
        )

    def test_indentation_counts(self):
        self.write("README.md", doc_with(GREETING.replace("  return", "    return")))
        self.assertFailsWith(self.check(), "at line 3 of the block")

    def test_a_block_longer_or_shorter_than_its_region_fails(self):
        self.write("README.md", doc_with(GREETING + "\n// more"))
        self.assertFailsWith(self.check(), "at line 5 of the block", "(the region has ended)")
        self.write("README.md", doc_with(GREETING.rsplit("\n", 1)[0]))
        self.assertFailsWith(self.check(), "at line 4 of the block", "(the block has ended)")

    def test_a_block_that_names_no_source_fails(self):
        self.write("README.md", doc_with(GREETING, comment=""))
        self.assertFailsWith(self.check(), "README.md:6: a ```cpp block names no source")

    def test_a_missing_source_or_region_fails(self):
        self.write("README.md", doc_with(GREETING, "<!-- snippet: src/gone.cpp#greeting -->"))
        self.assertFailsWith(self.check(), "src/gone.cpp: cannot read the source")
        self.write("README.md", doc_with(GREETING, "<!-- snippet: src/main.cpp#farewell -->"))
        self.assertFailsWith(self.check(), "no region 'farewell'")

    def test_a_source_outside_the_repository_is_refused(self):
        self.write("README.md", doc_with(GREETING, "<!-- snippet: ../main.cpp#greeting -->"))
        self.assertFailsWith(self.check(), "sources are paths inside the repository")

    def test_unbalanced_markers_fail(self):
        self.write("src/main.cpp", SOURCE.replace("// [snippet-end:greeting]\n", ""))
        self.write("README.md", doc_with(GREETING))
        self.assertFailsWith(self.check(), "has no // [snippet-end:greeting]")
        self.write("src/main.cpp", SOURCE.replace("  // [snippet-resume]\n", ""))
        self.assertFailsWith(self.check(), "has no // [snippet-resume]")

    def test_a_region_inside_a_function_is_dedented(self):
        self.write("README.md", doc_with(CALL, CALL_SOURCE))
        self.assertEqual(self.check().returncode, 0)

    def test_other_code_blocks_are_left_alone(self):
        self.write("README.md", "```sh\n```cpp\nnot a block\n```\n" + doc_with(GREETING))
        result = self.check()
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_fix_rewrites_only_the_blocks_from_their_regions(self):
        original = doc_with("old text") + "\n" + doc_with("", CALL_SOURCE)
        self.write("README.md", original)
        result = self.check("--fix")
        self.assertEqual(result.returncode, 0, result.stderr)
        fixed = self.read("README.md")
        self.assertEqual(
            fixed,
            doc_with(GREETING) + "\n" + doc_with(CALL, CALL_SOURCE),
        )
        self.assertEqual(self.check().returncode, 0)

    def test_fix_still_fails_on_a_block_without_a_source(self):
        self.write("README.md", doc_with("old text", comment=""))
        self.assertFailsWith(self.check("--fix"), "names no source")
        self.assertIn("old text", self.read("README.md"))


if __name__ == "__main__":
    unittest.main()
