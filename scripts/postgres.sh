#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the server tests (installed from Debian packages when missing).
#   scripts/postgres.sh start DIR   initialises and starts a cluster in DIR on a free 127.0.0.1 port and
#                                   prints its URL (trust authentication, reachable from this machine only)
#   scripts/postgres.sh stop DIR    stops it and removes DIR
set -euo pipefail
cmd=${1:?start or stop}; dir=${2:?a directory}

as_owner() {
    # PostgreSQL refuses to run as root: run it as the postgres user then.
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}

case "$cmd" in
start)
    if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
        sudo_=""; [ "$(id -u)" != 0 ] && sudo_="sudo"
        $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql > /dev/null \
            || { $sudo_ apt-get update -q > /dev/null \
                 && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql > /dev/null; }
    fi
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "'$bin/initdb' -D '$dir/data' -A trust -U cloudmux > '$dir/initdb.log' 2>&1"
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -o \"-k '$dir' -p $port -c listen_addresses=127.0.0.1 -c fsync=off\" start > /dev/null"
    echo "postgres://cloudmux@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    as_owner "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop > /dev/null" || true
    rm -rf "$dir"
    ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
