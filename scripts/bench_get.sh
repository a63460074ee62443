#!/usr/bin/env bash
# A verified `cloudmux get` of one big Drive file against the plain-HTTP emulator, next to the machine's
# limits for the same bytes: curl of the same `alt=media` URL with the same token (to /dev/null, and to a
# file as `get` writes one), and `openssl dgst` of
# the file with SHA-256 and MD5 (the two hashes a download can be checked with). Prints seconds; asserts
# nothing. Size in MiB: BENCH_GET_MIB (512). BINS: cloudmux binaries to compare (default: this tree's
# release build, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${BENCH_GET_MIB:-512}
BIN=${BIN:-$PWD/target/release/cloudmux}
[ -x "$BIN" ] || cargo build --release -p cloudmux
command -v curl >/dev/null && command -v openssl >/dev/null || apt-get install -y curl openssl >/dev/null
W=$(mktemp -d)
EP=
cleanup() { [ -n "$EP" ] && kill "$EP" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
export CLOUDMUX_CONFIG=$W/cfg/config.toml
"$BIN" emulate --listen 127.0.0.1:0 --auto-approve >"$W/emu.out" 2>/dev/null &
EP=$!
for _ in $(seq 50); do grep -q "listening on" "$W/emu.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(head -1 "$W/emu.out" | sed 's/listening on //')
"$BIN" remote add gd --type gdrive --client-id cloudmux-demo.apps.googleusercontent.com \
  --client-secret cloudmux-demo-secret --endpoint "$BASE" >/dev/null
"$BIN" auth login gd --no-browser >"$W/login.out" 2>&1 &
LOGIN=$!
for _ in $(seq 50); do grep -q "^http" "$W/login.out" 2>/dev/null && break; sleep 0.1; done
curl -s -L "$(grep -m1 '^http' "$W/login.out")" >/dev/null
wait "$LOGIN"
head -c $((MIB << 20)) /dev/urandom >"$W/big.bin"
"$BIN" --no-progress put "$W/big.bin" gd:big.bin >/dev/null
# The emulator computes SHA-256 after an upload, as Drive does, when first asked: ask, then let it finish.
"$BIN" stat gd:big.bin >/dev/null
sleep 3
FID=$("$BIN" stat gd:big.bin --json | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
TOK=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['access_token'])" "$W/cfg/tokens/gd.token.json")
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "verified get of $MIB MiB from the plain-HTTP emulator ($(nproc) cores), seconds:"
for b in ${BINS:-$BIN}; do
  for i in 1 2 3; do
    echo "  cloudmux get ($b): $(t "$b" --no-progress get gd:big.bin "$W/back.bin")"
    cmp -s "$W/big.bin" "$W/back.bin" || { echo "  the download differs"; exit 1; }
    rm -f "$W/back.bin"
  done
done
for i in 1 2 3; do
  echo "  curl alt=media to /dev/null: $(t curl -s -H "Authorization: Bearer $TOK" -o /dev/null \
    "$BASE/www.googleapis.com/drive/v3/files/$FID?alt=media")"
  echo "  curl alt=media to a file: $(t curl -s -H "Authorization: Bearer $TOK" -o "$W/curl.bin" \
    "$BASE/www.googleapis.com/drive/v3/files/$FID?alt=media")"
  rm -f "$W/curl.bin"
done
for i in 1 2; do
  echo "  openssl dgst -sha256: $(t openssl dgst -sha256 "$W/big.bin")"
  echo "  openssl dgst -md5: $(t openssl dgst -md5 "$W/big.bin")"
done
