#!/usr/bin/env bash
# Installs the Debian bookworm packages ProcessPype C++ builds and tests with.
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

packages=(
  # build
  cmake g++ make ccache pkg-config
  libcaf-dev librestinio-dev libasio-dev libhttp-parser-dev libfmt-dev
  nlohmann-json3-dev libspdlog-dev catch2 libyaml-cpp-dev libcli11-dev
  libssl-dev openssl
  libsqlite3-dev                                   # the state file (docs/state.md)
  libcurl4-openssl-dev                             # the cluster store client, ctl, communications
  libsystemd-dev                                   # sd_notify (packaging/processpype.service)
  # tests and benchmarks
  curl wrk sqlite3
  etcd-server etcd-client                          # the cluster store (docs/cluster.md)
  iproute2                                         # network namespaces for partition tests
  python3-aiosmtpd                                 # a real SMTP server for email tests
  dpkg-dev fakeroot lintian                        # the Debian package (scripts/package.sh)
  clang libfuzzer-14-dev libclang-rt-14-dev        # fuzzing (scripts/fuzz.sh)
  clang-format-14                                  # the format check (scripts/check-format.sh)
  chromium chromium-driver python3-selenium        # the pages in a real browser
  prometheus                                       # promtool, and a real scraper
  python3-jsonschema python3-yaml                  # validate /openapi.json and the file format
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing: ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
