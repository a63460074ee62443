#!/usr/bin/env bash
# A command-line tour of cloudmux on a fresh machine, with no Google account: builds the CLI, starts the local Google
# emulator, adds a Drive remote pointing at it, signs in through the real OAuth flow (loopback redirect +
# PKCE; this script plays the browser), then uploads, lists, downloads and shares files.
# Nothing is sent anywhere but 127.0.0.1. Set KEEP=1 to leave the emulator running at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building cloudmux"
cargo build -p cloudmux --quiet
bin="$PWD/target/debug/cloudmux"
work=$(mktemp -d)
export CLOUDMUX_CONFIG="$work/config.toml"
emu_pid=""
cleanup() { if [ -n "$emu_pid" ] && [ -z "${KEEP:-}" ]; then kill "$emu_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "== starting the emulators (Google Drive, Yandex Disk and their OAuth servers)"
"$bin" emulate --listen 127.0.0.1:0 --auto-approve --yandex-poll-interval 1 > "$work/emulator.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do grep -q '^listening on' "$work/emulator.log" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$work/emulator.log" | head -1)
read -r _ _ _ client_id client_secret < <(grep '^demo OAuth client' "$work/emulator.log")
echo "emulator at $base"

step "$bin" remote add drive --type gdrive --client-id "$client_id" --client-secret "$client_secret" --endpoint "$base"

printf '\n\033[1m$ %s\033[0m\n' "$bin auth login drive --no-browser"
"$bin" auth login drive --no-browser > "$work/login.out" 2> "$work/login.err" &
login_pid=$!
for _ in $(seq 100); do [ -s "$work/login.out" ] && break; sleep 0.1; done
url=$(head -1 "$work/login.out")
echo "consent link: ${url:0:100}…"
echo "(the browser's part: open the link; the emulator approves and redirects to cloudmux's loopback listener)"
python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()" "$url"
wait "$login_pid"
tail -n +2 "$work/login.out"

mkdir -p "$work/files"
echo "hello from cloudmux" > "$work/files/hello.txt"
head -c 20000000 /dev/urandom > "$work/files/big.bin"
step "$bin" mkdir drive:Documents/2026
step "$bin" put "$work/files/hello.txt" drive:Documents/
step "$bin" put "$work/files/big.bin" drive:Documents/2026/
step "$bin" ls drive:Documents
step "$bin" tree drive:
step "$bin" cat drive:Documents/hello.txt
step "$bin" get drive:Documents/2026/big.bin "$work/big.back"
cmp "$work/files/big.bin" "$work/big.back" && echo "downloaded file is byte-for-byte identical"
step "$bin" stat drive:Documents/2026/big.bin
step "$bin" link drive:Documents/hello.txt
step "$bin" about drive
step "$bin" rm drive:Documents/hello.txt
step "$bin" gdrive trash drive

echo
echo "== Yandex Disk: the device flow (the emulator plays the person who enters the code)"
step "$bin" remote add yandex --type yadisk --client-id "$client_id" --client-secret "$client_secret" --endpoint "$base"
step "$bin" auth login yandex
step "$bin" put "$work/files/big.bin" yandex:
step "$bin" ls yandex:
step "$bin" yadisk publish yandex:big.bin
step "$bin" get yandex:big.bin "$work/big.yandex"
cmp "$work/files/big.bin" "$work/big.yandex" && echo "downloaded file is byte-for-byte identical"
echo
echo "token files: $(ls -l "$work"/tokens/*.token.json | cut -d' ' -f1 | sort -u | tr '\n' ' ')$work/tokens/"
if [ -n "${KEEP:-}" ]; then
  echo "emulator still running at $base (pid $emu_pid); CLOUDMUX_CONFIG=$CLOUDMUX_CONFIG"
fi
