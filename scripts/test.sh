#!/usr/bin/env bash
# The whole cloudmux test suite, on a fresh machine: installs what it uses, then runs formatting and lint
# checks, every Rust test (unit, conformance kit per backend, integration against the in-process emulator,
# the CLI end to end) and the interop tests in which third-party clients talk to the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing the interop clients (PyPI)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/interop/requirements.txt

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Rust tests"
cargo test --workspace --locked

echo "== interop: google-api-python-client against the emulator"
cargo build -p cloudmux --locked
CLOUDMUX_BIN="$PWD/target/debug/cloudmux" python3 -m pytest tests/interop -q -p no:cacheprovider
