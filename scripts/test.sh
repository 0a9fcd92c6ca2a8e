#!/bin/sh
# Every test of the workspace: unit tests, and the root tests that run real containers.
# Run as root on Debian bookworm; installs what it needs first.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "scripts/test.sh: the container tests need root" >&2; exit 1; }
sh scripts/install-deps.sh
cargo build --workspace --all-targets --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
