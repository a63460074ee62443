#!/usr/bin/env python3
"""Load: `cloudmux serve` and `rclone serve webdav` under many concurrent clients. Prints a table; asserts nothing.

The load generator is wrk (Debian's package, installed when missing) with a Lua script that mixes, per ten
requests of a connection: folder listings (PROPFIND Depth 1 of a 200-file folder), stats (PROPFIND Depth
0), ranged GETs (64 KiB of a 64 MiB file at changing offsets), small PUTs (4 KiB), MOVEs and DELETEs of
files PUT earlier by the same client. Both servers serve the same local folder with Basic authentication;
each run starts from the same files. A third run sends cloudmux the same mix through its JSON API (list,
stat, ranged download, upload, rename, delete) with a bearer token.

Figures per run: requests per second, latency p50 and p99 (wrk's own), errors (socket errors and answers
outside 2xx/3xx) and the server's peak RSS. LOAD_CLIENTS (64), LOAD_SECONDS (60), LOAD_THREADS (2).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import first_password, free_port, wait_port  # noqa: E402
from bench_rclone import need  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "64"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
THREADS = int(os.environ.get("LOAD_THREADS", "2"))
FILES = 200
BIG = 64 << 20

# The mix. `P` is the folder's URL path, `AUTH` the Authorization header value. Names of a client's own
# files carry the wrk thread's id and a counter; a file is moved 50 rounds (500 requests of its thread)
# after it was PUT and deleted 50 rounds after that, by which time every request of the thread sent
# before has long been answered (with 32 connections a thread, a shorter lag raced slow PUTs).
# What both mixes share: parameters, the per-thread id and counter, requests with the credentials.
LUA_HEAD = r"""
local P, AUTH, FILES, BIG, LAG = "%(P)s", "%(AUTH)s", %(FILES)d, %(BIG)d, 50
local counter = 0
tid = 0  -- set per thread by setup()
local body = string.rep("x", 4096)
local ids = 0
function setup(thread)
  ids = ids + 1
  thread:set("tid", ids)
end
local function req(method, path, headers, b)
  headers = headers or {}
  headers["Authorization"] = AUTH
  return wrk.format(method, path, headers, b)
end
"""

LUA_DAV = LUA_HEAD + r"""
function request()
  counter = counter + 1
  local round, step = math.floor(counter / 10), counter %% 10
  local mine = function(r, kind) return P .. "/w" .. tid .. "-" .. r .. "." .. kind end
  if step == 0 then
    return req("PROPFIND", P .. "/", {["Depth"] = "1", ["Content-Type"] = "application/xml"},
      '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')
  elseif step == 1 or step == 5 then
    return req("PROPFIND", P .. "/f" .. string.format("%%04d", counter %% FILES), {["Depth"] = "0"})
  elseif step == 2 or step == 6 or step == 8 then
    local off = (counter * 1048573) %% (BIG - 65536)
    return req("GET", P .. "/big.bin", {["Range"] = "bytes=" .. off .. "-" .. (off + 65535)})
  elseif step == 3 then
    return req("PUT", mine(round, "a"), {["Content-Type"] = "application/octet-stream"}, body)
  elseif step == 4 and round >= LAG then
    return req("MOVE", mine(round - LAG, "a"), {["Destination"] = "http://" .. wrk.host .. ":" .. wrk.port .. mine(round - LAG, "b"), ["Overwrite"] = "T"})
  elseif step == 7 and round >= 2 * LAG then
    return req("DELETE", mine(round - 2 * LAG, "b"))
  else
    return req("GET", P .. "/f" .. string.format("%%04d", (counter * 7) %% FILES))
  end
end
"""

LUA_API = LUA_HEAD + r"""
function request()
  counter = counter + 1
  local round, step = math.floor(counter / 10), counter %% 10
  local mine = function(r, kind) return P .. "/w" .. tid .. "-" .. r .. "." .. kind end
  if step == 0 then
    return req("GET", "/api/fs/list?per_page=1000&path=" .. P)
  elseif step == 1 or step == 5 then
    return req("GET", "/api/fs/stat?path=" .. P .. "/f" .. string.format("%%04d", counter %% FILES))
  elseif step == 2 or step == 6 or step == 8 then
    local off = (counter * 1048573) %% (BIG - 65536)
    return req("GET", "/api/fs/download?path=" .. P .. "/big.bin", {["Range"] = "bytes=" .. off .. "-" .. (off + 65535)})
  elseif step == 3 then
    return req("PUT", "/api/fs/upload?overwrite=true&path=" .. mine(round, "a"), {["Content-Type"] = "application/octet-stream"}, body)
  elseif step == 4 and round >= LAG then
    return req("POST", "/api/fs/rename", {["Content-Type"] = "application/json"},
      '{"from":"' .. mine(round - LAG, "a") .. '","to":"' .. mine(round - LAG, "b") .. '"}')
  elseif step == 7 and round >= 2 * LAG then
    return req("POST", "/api/fs/delete", {["Content-Type"] = "application/json"},
      '{"path":"' .. mine(round - 2 * LAG, "b") .. '","permanent":true}')
  else
    return req("GET", "/api/fs/download?path=" .. P .. "/f" .. string.format("%%04d", (counter * 7) %% FILES))
  end
end
"""


def reset(folder):
    """The same files before every run: FILES small ones and a BIG one, nothing else."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(FILES):
        (folder / f"f{i:04}").write_bytes(b"%d\n" % i * 100)
    with open(folder / "big.bin", "wb") as f:
        f.write(os.urandom(1 << 20) * (BIG >> 20))


def peak_rss(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def seconds(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)", v)
    n, unit = float(m.group(1)), m.group(2)
    return n * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


# With LOAD_DEBUG: every answer outside 2xx/3xx is written out (status and the start of its body).
LUA_DEBUG = r"""
function response(status, headers, body)
  if status >= 400 then io.stderr:write("answer ", status, " ", string.sub(string.gsub(body, "%s+", " "), 1, 100), "\n") end
end
"""


def wrk(url, lua, work, server):
    script = work / "mix.lua"
    script.write_text(lua + (LUA_DEBUG if os.environ.get("LOAD_DEBUG") else ""))
    p = subprocess.run(["wrk", "-t", str(THREADS), "-c", str(CLIENTS), "-d", f"{SECONDS}s", "--latency",
                        "--timeout", "30s", "-s", str(script), url], check=True, capture_output=True, text=True)
    out = p.stdout
    if os.environ.get("LOAD_DEBUG"):
        from collections import Counter
        for answer, n in Counter(p.stderr.splitlines()).most_common(10):
            print(f"{server}: {n} × {answer}", file=sys.stderr)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", out, re.M))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(x) for x in sock.groups()) if sock else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"server": server, "rps": rps, "p50": seconds(lat["50"]), "p99": seconds(lat["99"]),
            "errors": errors, "requests": total, "raw": out}


def main():
    need("wrk", "wrk")
    need("rclone", "rclone")
    print("building release binary…", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-p", "cloudmux", "--quiet"], cwd=ROOT, check=True)
    bin_ = str(ROOT / "target" / "release" / "cloudmux")
    work = Path(tempfile.mkdtemp(prefix="cloudmux-load-"))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["CLOUDMUX_CONFIG"] = str(work / "cfg" / "config.toml")
    files = work / "files"
    files.mkdir()
    subprocess.run([bin_, "remote", "add", "loc", "--type", "local", "--path", str(files)], env=env, check=True,
                   capture_output=True)
    results = []
    procs = []
    try:
        # cloudmux: WebDAV, then its JSON API.
        port = free_port()
        cm = subprocess.Popen([bin_, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "srv"),
                               "--mount", "/local=loc"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        procs.append(cm)
        password = first_password(cm)
        wait_port(port, cm, "cloudmux serve")
        import base64
        import json
        import urllib.request
        basic = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        login = urllib.request.Request(f"http://127.0.0.1:{port}/api/auth/login", method="POST",
                                       data=json.dumps({"username": "admin", "password": password}).encode(),
                                       headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(login))["token"]
        base = {"FILES": FILES, "BIG": BIG}
        reset(files / "load")
        results.append(wrk(f"http://127.0.0.1:{port}", LUA_DAV % dict(base, P="/dav/local/load", AUTH=basic),
                           work, "cloudmux WebDAV"))
        reset(files / "load")
        r = wrk(f"http://127.0.0.1:{port}", LUA_API % dict(base, P="/local/load", AUTH=f"Bearer {token}"),
                work, "cloudmux JSON API")
        results.append(r)
        cm_peak = peak_rss(cm.pid)
        results[-2]["rss"] = results[-1]["rss"] = cm_peak
        # rclone serve webdav, same folder, Basic authentication too.
        reset(files / "load")
        port = free_port()
        rc = subprocess.Popen(["rclone", "serve", "webdav", str(files), "--addr", f"127.0.0.1:{port}",
                               "--user", "admin", "--pass", password], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        procs.append(rc)
        wait_port(port, rc, "rclone serve webdav")
        r = wrk(f"http://127.0.0.1:{port}", LUA_DAV % dict(base, P="/load", AUTH=basic), work, "rclone WebDAV")
        r["rss"] = peak_rss(rc.pid)
        results.append(r)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    if os.environ.get("LOAD_DEBUG"):
        for r in results:
            print(r["raw"], file=sys.stderr)
    cm_version = subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()
    rc_version = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"\n{cm_version} vs {rc_version}: wrk, {CLIENTS} clients, {SECONDS} s, {THREADS} threads, "
          f"{os.cpu_count()} cores (load generator and server share them), {time.strftime('%Y-%m-%d')}\n")
    print("| Server | req/s | p50 ms | p99 ms | errors | requests | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['server']} | {r['rps']:.0f} | {r['p50'] * 1000:.1f} | {r['p99'] * 1000:.1f} | {r['errors']} "
              f"| {r['requests']} | {r['rss']:.0f} |")


if __name__ == "__main__":
    main()
