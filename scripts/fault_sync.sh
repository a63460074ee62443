#!/usr/bin/env bash
# Transfers through failures: `cloudmux sync` of a 230-file tree (225 small files, five of 9 MB) from the
# local disk to Drive, Drive to Yandex Disk and Yandex Disk back to the local disk, while the emulator fails
# a share of requests with all five kinds of fault it knows (429, 403 userRateLimitExceeded, 503, 500 after
# acting, connection resets) and Google access tokens last 4 seconds. Prints each sync's exit status and
# summary, then checks: every file present and identical (MD5) at the end and on Drive, no duplicate on Drive.
#
#   RATE=0.3 SEED=5 ./scripts/fault_sync.sh      (defaults: RATE=0.1 SEED=3; BIN: a cloudmux binary)
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/debug/cloudmux}
[ -x "$BIN" ] || cargo build -p cloudmux --quiet
RATE=${RATE:-0.1}
W=$(mktemp -d)
export CLOUDMUX_CONFIG=$W/cfg/config.toml
$BIN emulate --listen 127.0.0.1:0 --auto-approve --token-lifetime 4 > $W/emu.out 2>$W/emu.err &
EP=$!
sleep 1
BASE=$(head -1 $W/emu.out | sed 's/listening on //')
ID=cloudmux-demo.apps.googleusercontent.com; SEC=cloudmux-demo-secret
$BIN remote add gd --type gdrive --client-id $ID --client-secret $SEC --endpoint $BASE >/dev/null
$BIN remote add yd --type yadisk --client-id $ID --client-secret $SEC --endpoint $BASE >/dev/null
( $BIN auth login gd --no-browser > $W/login.out 2>&1 & ); sleep 1.5
URL=$(grep -m1 "^http" $W/login.out); curl -s -L "$URL" > /dev/null; sleep 1
$BIN auth login yd > /dev/null 2>&1
mkdir -p $W/tree
python3 - "$W/tree" <<'PY'
import os, sys
root = sys.argv[1]
for i in range(225):
    d = os.path.join(root, f"d{i%9}", f"e{i%4}")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"small{i}.txt"), "wb").write(os.urandom(1000 + i * 37))
for i in range(5):
    open(os.path.join(root, f"big{i}.bin"), "wb").write(os.urandom(9_000_000))
PY
curl -s -XPOST $BASE/__admin/faults -H 'content-type: application/json' -d "{\"rate\":$RATE,\"kinds\":[\"too_many\",\"rate_limit403\",\"unavailable\",\"fail_after\",\"reset\"],\"seed\":${SEED:-3}}"; echo
echo "== local -> gd"; $BIN sync $W/tree gd:tree 2>$W/sync1.err >$W/sync1.out; echo "exit $?"; cat $W/sync1.out; grep -c "retrying" $W/sync1.err; grep -v -i "warn" $W/sync1.err | tail -5
grep "retrying in" $W/sync1.err | sed 's/.*retrying in \([^ ]*\).*/\1/' | sort | uniq -c | sort -rn | head -5
echo "== gd -> yd"; $BIN sync gd:tree yd:tree 2>$W/sync2.err; echo "exit $?"; grep -v -i warn $W/sync2.err | tail -5
echo "== yd -> local"; $BIN sync yd:tree $W/back 2>$W/sync3.err; echo "exit $?"; grep -v -i warn $W/sync3.err | tail -5
curl -s -XPOST $BASE/__admin/faults -d '{"rate":0}' -H 'content-type: application/json' >/dev/null
echo "== check"; $BIN check $W/tree $W/back --checksum 2>&1 | tail -2; $BIN check $W/tree gd:tree --checksum 2>&1 | tail -2
echo "== gd duplicates"; $BIN lsjson -R gd:tree 2>/dev/null | python3 -c "import json,sys,collections; v=json.load(sys.stdin); c=collections.Counter(e['path'] for e in v); print(len(v), 'entries', sum(1 for k in c if c[k]>1), 'duplicated')"
kill $EP
rm -rf "$W"
