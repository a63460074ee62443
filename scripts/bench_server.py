#!/usr/bin/env python3
"""`cloudmux serve` against `rclone serve webdav` on the same folders. Prints tables; asserts nothing about time.

Both servers run over the same three trees: a local folder (/local), and the emulated Google Drive (/gdrive)
and Yandex Disk (/yadisk) of one emulator, reached over TLS by the services' real host names inside a
private mount namespace (see bench_rclone.py, whose set-up this reuses). rclone serves each tree with its own
`rclone serve webdav` (default settings); cloudmux serves all three from one process. curl is the client.

Work, per tree: PROPFIND Depth 1 of a folder of BENCH_ENTRIES (10,000) entries — and of BENCH_BIG_ENTRIES
(100,000) on /local — the first time (cold: both servers list the folder) and the median of BENCH_REPEAT
(5) more (warm: both cache listings); cloudmux's JSON API listing of the same folder (`per_page=0`); GET of
a BENCH_FILE_MIB (1024) MiB file whole, and 32 ranged GETs of 4 MiB at random offsets (a player seeking);
PUT of the same file. Then memory: 16 clients PROPFIND the 100k folder while 16 download the large file
from /local, and each server's peak RSS is sampled.

Needs root (port 443, mount namespace); installs rclone, openssl and curl from Debian when missing.
"""

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import first_password, free_port, wait_port  # noqa: E402
from bench_rclone import emulated_services, in_namespace, need  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FILE_MIB = int(os.environ.get("BENCH_FILE_MIB", "1024"))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "10000"))
BIG_ENTRIES = int(os.environ.get("BENCH_BIG_ENTRIES", "100000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
PROPFIND = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'


def curl(args):
    """Runs curl; returns (seconds, bytes received, HTTP status)."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download} %{http_code}",
                          *args], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


class Server:
    def __init__(self, name, proc, base, auth):
        self.name, self.proc, self.base, self.auth = name, proc, base, auth

    def url(self, path):
        return self.base + path

    def args(self):
        return ["-u", self.auth] if self.auth else []

    def rss_mib(self, field="VmRSS"):
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


def timed_propfind(srv, path, expect):
    t, n, code = curl([*srv.args(), "-X", "PROPFIND", "-H", "Depth: 1", "-H", "Content-Type: application/xml",
                       "--data", PROPFIND, srv.url(path)])
    if code != 207 or n < expect * 100:
        sys.exit(f"{srv.name} PROPFIND {path}: status {code}, {n} bytes")
    return t


def series(f):
    """(first, median of REPEAT more)."""
    first = f()
    rest = [f() for _ in range(REPEAT)]
    return first, statistics.median(rest)


def main():
    if os.geteuid() != 0:
        sys.exit("run as root: the emulator listens on port 443 and the servers run in a private mount namespace")
    need("rclone", "rclone")
    need("openssl", "openssl")
    need("curl", "curl")
    print("building release binary…", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-p", "cloudmux", "--quiet"], cwd=ROOT, check=True)
    bin_ = str(ROOT / "target" / "release" / "cloudmux")
    work = Path(tempfile.mkdtemp(prefix="cloudmux-server-bench-"))
    procs = []
    try:
        run(bin_, work, procs)
    finally:
        for p in procs:
            if callable(p):
                p()
            else:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


def run(bin_, work, procs):
    emu, env = emulated_services(bin_, work)
    procs.append(emu)
    blobs = env.pop("EMULATOR_BLOBS")
    procs.append(lambda: shutil.rmtree(blobs, ignore_errors=True))
    base = env["EMULATOR_BASE"]
    hosts_file = work / "hosts"
    local = work / "local"
    local.mkdir()
    subprocess.run([bin_, "remote", "add", "loc", "--type", "local", "--path", str(local)], env=env, check=True,
                   capture_output=True)

    def ns(args, **kw):
        return subprocess.run(in_namespace(hosts_file, args), env=env, **kw)

    print(f"making the data: {ENTRIES} and {BIG_ENTRIES} files in local folders, a {FILE_MIB} MiB file…",
          file=sys.stderr)
    for folder, n in [("e10k", ENTRIES), ("e100k", BIG_ENTRIES)]:
        (local / folder).mkdir()
        for i in range(n):
            (local / folder / f"f{i:06}").write_bytes(b"x")
    big = work / "big.bin"
    rnd = random.Random(7)
    with open(big, "wb") as f:
        block = rnd.randbytes(1 << 20)
        for i in range(FILE_MIB):
            f.write(block[i % 97:] + block[:i % 97])
    shutil.copy(big, local / "big.bin")
    print("seeding Drive and Yandex Disk…", file=sys.stderr)
    req = urllib.request.Request(f"{base}/__admin/drive/seed", data=f'{{"folder": "e10k", "count": {ENTRIES}}}'
                                 .encode(), headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
    for remote in ["gd", "yd"]:
        ns([bin_, "cp", str(big), f"{remote}:big.bin"], check=True, capture_output=True)
    ns([bin_, "cp", "--transfers", "16", "--no-progress", str(local / "e10k"), "yd:e10k"], check=True, capture_output=True)

    # The servers.
    cm_port = free_port()
    cm = subprocess.Popen(in_namespace(hosts_file, [
        bin_, "serve", "--listen", f"127.0.0.1:{cm_port}", "--data-dir", str(work / "srv"),
        "--mount", "/local=loc", "--mount", "/gdrive=gd", "--mount", "/yadisk=yd"]),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    procs.append(cm)
    password = first_password(cm)
    wait_port(cm_port, cm, "cloudmux serve")
    cmx = Server("cloudmux", cm, f"http://127.0.0.1:{cm_port}/dav", f"admin:{password}")
    token = subprocess.run(["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "--data",
                            f'{{"username":"admin","password":"{password}"}}',
                            f"http://127.0.0.1:{cm_port}/api/auth/login"],
                           check=True, capture_output=True, text=True).stdout
    token = re.search(r'"token":"([^"]+)"', token).group(1)
    rcs = {}
    for tree, target in [("/local", str(local)), ("/gdrive", "rgd:"), ("/yadisk", "ryd:")]:
        port = free_port()
        p = subprocess.Popen(in_namespace(hosts_file, [
            "rclone", "serve", "webdav", target, "--addr", f"127.0.0.1:{port}", "--ca-cert", str(work / "ca.pem")]),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_port(port, p, "rclone serve webdav")
        rcs[tree] = Server("rclone", p, f"http://127.0.0.1:{port}", None)

    def cm_path(tree, p):
        return f"{tree}{p}"

    rows = []

    def row(what, c, r, target):
        rows.append((what, c, r, target))
        print(f"  {what}: cloudmux {c:.3f} s, rclone {r:.3f} s", file=sys.stderr)

    size = FILE_MIB << 20
    for tree in ["/local", "/gdrive", "/yadisk"]:
        rc = rcs[tree]
        folders = [("e10k", ENTRIES)] + ([("e100k", BIG_ENTRIES)] if tree == "/local" else [])
        for folder, n in folders:
            c0, c = series(lambda: timed_propfind(cmx, cm_path(tree, f"/{folder}/"), n))
            r0, r = series(lambda: timed_propfind(rc, f"/{folder}/", n))
            row(f"{tree}: PROPFIND {n} entries, first", c0, r0, 1.0)
            row(f"{tree}: PROPFIND {n} entries, again (median)", c, r, 1.0)
            api = f"http://127.0.0.1:{cm_port}/api/fs/list?path={tree}/{folder}&per_page=0"

            def api_list():
                t, got, code = curl(["-H", f"Authorization: Bearer {token}", api])
                if code != 200 or got < n * 50:
                    sys.exit(f"API list {tree}/{folder}: {code}, {got} bytes")
                return t
            _, a = series(api_list)
            row(f"{tree}: JSON API list {n} entries (median) vs cloudmux PROPFIND", a, c, 1.0)

        def get_whole(srv, url):
            t, got, code = curl([*srv.args(), url])
            if code != 200 or got != size:
                sys.exit(f"{srv.name} GET {url}: {code}, {got} bytes")
            return t
        row(f"{tree}: GET {FILE_MIB} MiB", get_whole(cmx, cmx.url(cm_path(tree, "/big.bin"))),
            get_whole(rc, rc.url("/big.bin")), 1.0)
        offsets = random.Random(3).sample(range(0, size - (4 << 20), 1 << 16), 32)

        def get_ranges(srv, url):
            total = 0.0
            for off in offsets:
                t, got, code = curl([*srv.args(), "-H", f"Range: bytes={off}-{off + (4 << 20) - 1}", url])
                if code != 206 or got != 4 << 20:
                    sys.exit(f"{srv.name} ranged GET {url}: {code}, {got} bytes")
                total += t
            return total
        row(f"{tree}: 32 ranged GETs of 4 MiB", get_ranges(cmx, cmx.url(cm_path(tree, "/big.bin"))),
            get_ranges(rc, rc.url("/big.bin")), 1.0)

        def put(srv, url):
            t, _, code = curl([*srv.args(), "-T", str(big), url])
            if code not in (200, 201, 204):
                sys.exit(f"{srv.name} PUT {url}: {code}")
            return t
        os.sync()
        c = put(cmx, cmx.url(cm_path(tree, "/up-cloudmux.bin")))
        os.sync()
        row(f"{tree}: PUT {FILE_MIB} MiB", c, put(rc, rc.url("/up-rclone.bin")), 1.0)

    # Memory under load: 16 listings of the 100k folder and 16 downloads of the large file at once.
    mem = []
    for srv, prefix in [(cmx, "/local"), (rcs["/local"], "")]:
        peak = [srv.rss_mib()]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], srv.rss_mib())
                time.sleep(0.02)
        w = threading.Thread(target=sample)
        w.start()
        failures = []

        def checked(f, *args):
            # A thread's exception (or sys.exit) would vanish with it: every client must have succeeded.
            try:
                f(*args)
            except BaseException as e:  # noqa: BLE001
                failures.append(repr(e))

        def download(url):
            _, got, code = curl([*srv.args(), url])
            if code != 200 or got != size:
                sys.exit(f"{srv.name} GET {url} under load: {code}, {got} bytes")

        jobs = [threading.Thread(target=checked, args=(timed_propfind, srv, f"{prefix}/e100k/", BIG_ENTRIES))
                for _ in range(16)]
        jobs += [threading.Thread(target=checked, args=(download, srv.url(f"{prefix}/big.bin")))
                 for _ in range(16)]
        t0 = time.monotonic()
        for j in jobs:
            j.start()
        for j in jobs:
            j.join()
        elapsed = time.monotonic() - t0
        if failures:
            sys.exit(f"{srv.name}: {len(failures)} of 32 clients failed under load: {failures[0]}")
        done.set()
        w.join()
        mem.append((srv.name, peak[0], elapsed))

    cm_version = subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()
    rc_version = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"\n{cm_version} vs {rc_version} serve webdav, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; curl the client, one emulator over TLS for Drive and Yandex Disk\n")
    print("| Work | cloudmux s | rclone s | cloudmux / rclone | target |")
    print("|---|---:|---:|---:|---:|")
    for what, c, r, target in rows:
        ratio = c / r if r else float("inf")
        print(f"| {what} | {c:.3f} | {r:.3f} | {ratio:.2f} {'✓' if ratio <= target else '✗'} | ≤ {target} |")
    print(f"\n| 16 × PROPFIND of {BIG_ENTRIES} entries + 16 × GET of the {FILE_MIB} MiB file, /local "
          "| peak RSS MiB | seconds |")
    print("|---|---:|---:|")
    for name, peak, elapsed in mem:
        print(f"| {name} | {peak:.0f} | {elapsed:.1f} |")


if __name__ == "__main__":
    main()
