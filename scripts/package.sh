#!/usr/bin/env bash
# Builds the Debian packages processpype and processpype-dev
# (docs/packaging.md) with CPack, in a build directory of their own
# (build-package/, or $PACKAGE_BUILD_DIR), and checks them with lintian: any
# error fails the script; warnings and notes are printed.
#
# The compiler and linker flags are Debian's (dpkg-buildflags, every
# hardening feature on: fortify, stack protector, relro, bindnow, PIE)
# rather than the test builds' own. The packages land in the build directory:
#   build-package/processpype_<version>_<arch>.deb
#   build-package/processpype-dev_<version>_<arch>.deb
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${PACKAGE_BUILD_DIR:-build-package}"
for tool in dpkg-buildflags dpkg-shlibdeps lintian; do
  if ! command -v "$tool" >/dev/null; then
    echo "scripts/package.sh: $tool is missing (scripts/install-dependencies.sh installs it)" >&2
    exit 2
  fi
done

# No debug information: nothing would ship it (no -dbgsym package).
export DEB_BUILD_MAINT_OPTIONS="hardening=+all" DEB_CXXFLAGS_MAINT_STRIP="-g"
cxxflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)"
ldflags="$(dpkg-buildflags --get LDFLAGS)"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-DNDEBUG" \
  -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_UNITY_BUILD=ON \
  -DPROCESSPYPE_BUILD_TESTS=OFF -DPROCESSPYPE_BUILD_BENCHMARKS=OFF \
  -DPROCESSPYPE_SANITIZE=OFF -DPROCESSPYPE_FUZZ=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
rm -f "$build_dir"/*.deb
(cd "$build_dir" && cpack -G DEB)

packages=("$build_dir"/*.deb)
echo "== lintian ${packages[*]}"
# --fail-on error: warnings and notes are shown, only errors fail.
lintian --display-info --fail-on error "${packages[@]}"
for package in "${packages[@]}"; do
  echo "== $package ($(du -h "$package" | cut -f1))"
  dpkg-deb --field "$package" Package Version Depends
done
