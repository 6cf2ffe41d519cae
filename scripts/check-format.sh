#!/usr/bin/env bash
# Fails, naming each place, when a tracked C++ source differs from what
# clang-format makes of it with the checked-in .clang-format. The version is
# pinned: another clang-format formats some constructs differently.
# `clang-format-14 -i <files>` fixes what it reports.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z '*.cpp' '*.hpp' '*.h' | xargs -0 "${CLANG_FORMAT:-clang-format-14}" --dry-run -Werror
