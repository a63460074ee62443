#!/usr/bin/env bash
# cloudmux's main job on a fresh machine, with no account anywhere: builds cloudmux and runs
# `cloudmux serve --demo` — the emulated Google Drive, Google Photos and Yandex Disk start in the same process
# with sample data, cloudmux signs in to each through its real OAuth flow, mounts them with ./demo-data, and
# serves the tree on http://127.0.0.1:5244 (the demo login is printed). Extra arguments go to `serve`
# (for example --listen 127.0.0.1:8080). Nothing is sent anywhere but 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building cloudmux (release)" >&2
cargo build --release -p cloudmux --quiet
exec ./target/release/cloudmux serve --demo "$@"
