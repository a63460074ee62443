#!/usr/bin/env bash
# The whole cloudmux test suite, on a fresh machine: installs what it uses, then runs formatting and lint
# checks, every Rust test (unit, conformance kit per backend, integration against the in-process emulator,
# the CLI end to end, the server on SQLite and PostgreSQL with litmus against its WebDAV) and the interop
# tests in which third-party clients talk to the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing litmus, rclone, gvfs, nginx, fuse3, fio, chromium, chromium-driver and Node.js (Debian): WebDAV clients, a load balancer, FUSE for cloudmux mount (and fio to check its blocks) and the web page's tests and audits"
pkgs=""
command -v litmus > /dev/null || pkgs="$pkgs litmus"
command -v chromedriver > /dev/null || pkgs="$pkgs chromium chromium-driver"
command -v rclone > /dev/null || pkgs="$pkgs rclone"
command -v fusermount3 > /dev/null || pkgs="$pkgs fuse3"
command -v fio > /dev/null || pkgs="$pkgs fio"
{ command -v node > /dev/null && command -v npm > /dev/null; } || pkgs="$pkgs nodejs npm"
{ command -v nginx > /dev/null || [ -x /usr/sbin/nginx ]; } || pkgs="$pkgs nginx-light"
{ command -v gio > /dev/null && [ -x /usr/libexec/gvfsd-dav ]; } || pkgs="$pkgs gvfs-backends gvfs-daemons libglib2.0-bin dbus"
if [ -n "$pkgs" ]; then
    sudo_=""
    if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi
    # shellcheck disable=SC2086
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs > /dev/null \
        || { $sudo_ apt-get update -q > /dev/null \
             && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs > /dev/null; }
fi

echo "== installing the interop clients (PyPI)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/interop/requirements.txt

echo "== installing axe-core and lighthouse (npm) into target/tools/node: the web page's audits"
# Lighthouse 12.2.3 asks for Node 18.16 or later.
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 16) ? 0 : 1)' \
    || { echo "Lighthouse needs Node.js 18.16 or later; this is $(node --version): install a newer nodejs" >&2; exit 1; }
mkdir -p target/tools/node
grep -qs '"version": "12.2.3"' target/tools/node/node_modules/lighthouse/package.json \
    && grep -qs '"version": "4.10.3"' target/tools/node/node_modules/axe-core/package.json \
    || npm install --prefix target/tools/node --no-audit --no-fund --loglevel=error --save-exact axe-core@4.10.3 lighthouse@12.2.3 > /dev/null

echo "== installing OpenList's web frontend (npm, pinned) into target/tools/openlist: driven against cloudmux's AList door"
if ! grep -qs '"version": "4.2.6"' target/tools/openlist/package/package.json; then
    rm -rf target/tools/openlist && mkdir -p target/tools/openlist
    (cd target/tools/openlist && npm pack --silent @openlist-frontend/openlist-frontend@4.2.6 > /dev/null \
        && tar xzf openlist-frontend-openlist-frontend-4.2.6.tgz && rm openlist-frontend-openlist-frontend-4.2.6.tgz)
fi

echo "== installing pjdfstest (crates.io): the POSIX file-system suite, run on cloudmux mount"
[ -x target/tools/bin/pjdfstest ] || cargo install pjdfstest --version 0.2.2 --locked --quiet --root target/tools
PJDFSTEST="$PWD/target/tools/bin/pjdfstest"
export PJDFSTEST

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== PostgreSQL (Debian) for the server tests, in a throw-away cluster"
pg_dir="/tmp/cloudmux-test-pg-$$"
trap './scripts/postgres.sh stop "$pg_dir"' EXIT
CLOUDMUX_TEST_POSTGRES=$(./scripts/postgres.sh start "$pg_dir")
export CLOUDMUX_TEST_POSTGRES

echo "== Rust tests (the server's on SQLite and on PostgreSQL)"
cargo test --workspace --locked

echo "== interop: google-api-python-client and yadisk against the emulator; rclone's webdav and headless Chromium against the server"
cargo build -p cloudmux --locked
CLOUDMUX_BIN="$PWD/target/debug/cloudmux" python3 -m pytest tests/interop -q -p no:cacheprovider
