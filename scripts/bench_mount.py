#!/usr/bin/env python3
"""`cloudmux mount --cache-mode full` against `rclone mount --vfs-cache-mode full` on the same emulated Google
Drive, in the same run. Prints a table; asserts nothing about time, but says which targets were missed.

Both mounts run as bench_rclone.py runs its tools: inside a private mount namespace whose /etc/hosts sends the
Google host names to the emulator's TLS listener (the machine's /etc/hosts is never touched). A FUSE mount
made there is seen only there, so every step's commands enter that namespace (`nsenter -t PID -m`).

Rows (each on a mount started for it, with an empty cache folder unless it says "remount"):
  write    `dd` of a BENCH_FILE_MIB (1024) MiB file into the mount, until the service holds all of it
  read     `dd` of that file out of a new mount (nothing cached)
  random   BENCH_RANDOM (2000) reads of 4 KiB at random offsets of it
  seek     a video seek pattern: 30 times, jump to a random place and read 2 MiB
  ls cold  `ls -lR` of a tree of BENCH_WALK_FOLDERS (2000) folders × 5 files
  ls again the same after an unmount and a new mount over the same cache folder
  cp       `cp -r` of 1,000 files of 16 KiB into the mount, until the service holds them all
BENCH_TOOLS (default "cloudmux,rclone") and BENCH_ROWS (default "write,read,random,seek,ls,cp"; read, random
and seek need write) pick what runs, e.g. BENCH_TOOLS=cloudmux BENCH_ROWS=ls BENCH_WALK_FOLDERS=20000 for a
100,000-file tree.
BENCH_QUOTA=realistic runs the emulator with the services' published limits (without it, none: a tool that
paces itself at Google's published three writes a second — cloudmux does — loses `cp` to one that does not).
Figures: seconds, requests the emulator answered (less the script's own polls of the service), the mount process's peak RSS, bytes the emulator served.
Targets: every row's time ≤ rclone's; `ls again` ≥ 10× faster than rclone's; the seek pattern downloads
≤ 2× the bytes it reads.

Needs root (port 443, mount namespaces, FUSE); installs rclone, fuse3 and openssl from Debian when missing.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import blob_dir  # noqa: E402,F401  (the emulator's blobs live where bench.py says)
from bench_rclone import emulated_services, in_namespace, need  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FILE_MIB = int(os.environ.get("BENCH_FILE_MIB", "1024"))
RANDOM_READS = int(os.environ.get("BENCH_RANDOM", "2000"))
WALK_FOLDERS = int(os.environ.get("BENCH_WALK_FOLDERS", "2000"))
SMALL = 1000
TOOLS = os.environ.get("BENCH_TOOLS", "cloudmux,rclone").split(",")
ROWS = set(os.environ.get("BENCH_ROWS", "write,read,random,seek,ls,cp").split(","))


def stats(base):
    with urllib.request.urlopen(f"{base}/__admin/stats") as r:
        s = json.load(r)
    return sum(s["requests"].values()), s["served_bytes"]


class Mounted:
    """One mount process (inside the hosts namespace) and its mount point."""

    def __init__(self, args, at, env, work):
        self.at = at
        at.mkdir(parents=True, exist_ok=True)
        log = open(work / f"{at.name}.log", "ab")
        self.p = subprocess.Popen(in_namespace(work / "hosts", args), env=env, stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log)
        t0 = time.monotonic()
        while not self.mounted():
            if self.p.poll() is not None or time.monotonic() - t0 > 60:
                sys.exit(f"{args[0]} never mounted {at} (see {log.name})")
            time.sleep(0.05)
        self.peak = 0

    def mounted(self):
        try:
            return any(line.split()[1] == str(self.at) for line in open(f"/proc/{self.p.pid}/mounts"))
        except OSError:
            return False

    def sh(self, script):
        """Runs `script` in the mount's namespace; returns its stdout."""
        self.watch()
        out = subprocess.run(["nsenter", "-t", str(self.p.pid), "-m", "sh", "-c", script], check=True,
                             capture_output=True, text=True).stdout
        self.watch()
        return out

    def watch(self):
        try:
            for line in open(f"/proc/{self.p.pid}/status"):
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) // 1024)
        except OSError:
            pass

    def stop(self):
        self.watch()
        subprocess.run(["nsenter", "-t", str(self.p.pid), "-m", "fusermount3", "-u", str(self.at)],
                       capture_output=True)
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def main():
    if os.geteuid() != 0:
        sys.exit("run as root: the emulator listens on port 443 and the mounts run in a mount namespace")
    need("rclone", "rclone")
    need("openssl", "openssl")
    need("fusermount3", "fuse3")
    bin_ = os.environ.get("BENCH_BIN")
    if not bin_:
        print("building release binary…", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-p", "cloudmux", "--quiet"], cwd=ROOT, check=True)
        bin_ = str(ROOT / "target" / "release" / "cloudmux")
    work = Path(tempfile.mkdtemp(prefix="cloudmux-mount-bench-"))
    quota = os.environ.get("BENCH_QUOTA")
    emu, env = emulated_services(bin_, work, ["--quota", quota] if quota else [])
    base = env["EMULATOR_BASE"]
    ca = str(work / "ca.pem")
    mounts = []
    try:
        for r in ("gd", "rgd"):
            subprocess.run(in_namespace(work / "hosts", [bin_, "mkdir", "gd:bench-" + r]), env=env, check=True,
                           capture_output=True)
        req = urllib.request.Request(f"{base}/__admin/drive/seed",
                                     data=json.dumps({"folder": "deep", "folders": WALK_FOLDERS, "count": 5}).encode(),
                                     headers={"Content-Type": "application/json"})
        print(f"seeding a Drive tree of {WALK_FOLDERS} folders × 5 files…", file=sys.stderr)
        urllib.request.urlopen(req, timeout=600).read()
        src = work / "src.bin"
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for i in range(FILE_MIB):
                f.write(block[i % 256:] + block[:i % 256])
        small = work / "small"
        small.mkdir()
        for i in range(SMALL):
            (small / f"s{i:04}.bin").write_bytes(os.urandom(16 * 1024))
        size = FILE_MIB << 20
        rng = random.Random(7)
        offsets = [rng.randrange(0, size - 4096) for _ in range(RANDOM_READS)]
        seeks = [rng.randrange(0, size - (2 << 20)) for _ in range(30)]

        def mount(tool, what, at, cache):
            if tool == "cloudmux":
                args = [bin_, "mount", f"gd:{what}", str(at), "--cache-mode", "full", "--cache-dir", str(cache)]
            else:
                args = ["rclone", "--ca-cert", ca, "mount", f"rgd:{what}", str(at), "--vfs-cache-mode", "full",
                        "--cache-dir", str(cache)]
            m = Mounted(args, at, env, work)
            mounts.append(m)
            return m

        token = json.loads((Path(env["CLOUDMUX_CONFIG"]).parent / "tokens" / "gd.token.json").read_text())
        polls = [0]

        def drive_list(q):
            """The files matching Drive query `q` (every page), asked over plain HTTP; each request is counted
            in `polls`, which the rows take off the tools' figures."""
            out, page = [], ""
            while True:
                qs = urllib.parse.urlencode({"q": q, "pageSize": 1000,
                                             "fields": "nextPageToken,files(id,name,size)",
                                             **({"pageToken": page} if page else {})})
                r = urllib.request.Request(f"{base}/www.googleapis.com/drive/v3/files?{qs}",
                                           headers={"Authorization": f"Bearer {token['access_token']}"})
                polls[0] += 1
                with urllib.request.urlopen(r, timeout=60) as resp:
                    body = json.load(resp)
                out += body.get("files", [])
                page = body.get("nextPageToken")
                if not page:
                    return out

        def child(parent, name):
            got = drive_list(f"'{parent}' in parents and name = '{name}' and trashed = false")
            return got[0] if got else None

        def on_service(tool, rel, want_size=None, want_count=None):
            """Waits until the Drive folder of `tool` holds `rel` whole (a file of want_size, or a folder of
            want_count files); one request a poll (two while the folder is not there)."""
            folder = child("root", f"bench-{'gd' if tool == 'cloudmux' else 'rgd'}")["id"]
            for _ in range(6000):
                e = child(folder, rel)
                if e and want_size is not None and int(e.get("size", -1)) == want_size:
                    return
                if e and want_count is not None and \
                        len(drive_list(f"'{e['id']}' in parents and trashed = false")) == want_count:
                    return
                time.sleep(0.1)
            sys.exit(f"{tool}: {rel} never reached the service")

        py_random = ("import os,sys\nf=os.open(sys.argv[1],os.O_RDONLY)\n"
                     "for o in sys.argv[2].split(','):\n    assert len(os.pread(f,4096,int(o)))==4096\n")
        py_seek = ("import os,sys\nf=os.open(sys.argv[1],os.O_RDONLY)\n"
                   "for o in sys.argv[2].split(','):\n"
                   "    n=0\n    while n<2<<20:\n        b=os.pread(f,1<<17,int(o)+n)\n        assert b\n"
                   "        n+=len(b)\n")
        (work / "random.py").write_text(py_random)
        (work / "seek.py").write_text(py_seek)

        rows = {}

        def row(key, label, tool, fn, read_bytes=None):
            if key not in ROWS:
                return
            r0, b0 = stats(base)
            p0 = polls[0]
            t0 = time.monotonic()
            m = fn()
            secs = time.monotonic() - t0
            r1, b1 = stats(base)
            r1 -= polls[0] - p0
            rows.setdefault(label, {})[tool] = (secs, r1 - r0, m.peak if m else 0, b1 - b0, read_bytes)
            print(f"  {tool} {label}: {secs:.2f} s, {r1 - r0} requests, {(b1 - b0) / 2**20:.1f} MiB served",
                  file=sys.stderr)

        for tool in TOOLS:
            d = work / tool
            what = f"bench-{'gd' if tool == 'cloudmux' else 'rgd'}"
            print(f"{tool}…", file=sys.stderr)

            def write():
                m = mount(tool, what, d / "mw", d / "cache-w")
                m.sh(f"dd if={src} of={m.at}/big.bin bs=1M status=none")
                on_service(tool, "big.bin", want_size=size)
                m.stop()
                return m
            row("write", f"write {FILE_MIB} MiB", tool, write)

            def fresh(name):
                return mount(tool, what, d / name, d / f"cache-{name}")

            def read():
                m = fresh("mr")
                m.sh(f"dd if={m.at}/big.bin of=/dev/null bs=1M status=none")
                m.stop()
                return m
            row("read", f"read {FILE_MIB} MiB", tool, read, size)

            def rand():
                m = fresh("mx")
                m.sh(f"python3 {work}/random.py {m.at}/big.bin {','.join(map(str, offsets))}")
                m.stop()
                return m
            row("random", f"{RANDOM_READS} random 4 KiB reads", tool, rand, 4096 * RANDOM_READS)

            def seek():
                m = fresh("ms")
                m.sh(f"python3 {work}/seek.py {m.at}/big.bin {','.join(map(str, seeks))}")
                m.stop()
                return m
            row("seek", "seek: 30 × (jump, 2 MiB)", tool, seek, 30 * (2 << 20))

            def ls(again):
                def go():
                    m = mount(tool, "deep", d / "ml", d / "cache-l")
                    n = len(m.sh(f"ls -lR {m.at}").splitlines())
                    if n < WALK_FOLDERS * 6:
                        sys.exit(f"{tool}: ls -lR gave {n} lines")
                    m.stop()
                    return m
                return go
            files = WALK_FOLDERS * 5
            row("ls", f"ls -lR {files:,} files, cold", tool, ls(False))
            row("ls", f"ls -lR {files:,} files, remount", tool, ls(True))

            def cp():
                m = fresh("mc")
                m.sh(f"cp -r {small} {m.at}/small")
                on_service(tool, "small", want_count=SMALL)
                m.stop()
                return m
            row("cp", f"cp -r {SMALL:,} × 16 KiB", tool, cp)

        cm_version = subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()
        rc_version = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"\n{cm_version} `mount --cache-mode full` vs {rc_version} `mount --vfs-cache-mode full`, one emulated "
              f"Drive over TLS ({os.cpu_count()} cores)\n")
        print("| work | cloudmux s | rclone s | ratio | cloudmux requests | rclone requests | cloudmux RSS MiB "
              "| rclone RSS MiB | cloudmux MiB down | rclone MiB down |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        missed = []
        for label, by in rows.items():
            if "cloudmux" not in by or "rclone" not in by:
                c = by.get("cloudmux") or by.get("rclone")
                print(f"| {label} ({next(iter(by))} only) | {c[0]:.2f} | – | – | {c[1]} | – | {c[2]} | – "
                      f"| {c[3] / 2**20:.1f} | – |")
                continue
            c, r = by["cloudmux"], by["rclone"]
            ratio = c[0] / r[0] if r[0] else float("inf")
            target = 0.1 if "remount" in label else 1.0
            mark = "" if ratio <= target else " ✗"
            if mark:
                missed.append(f"{label}: {ratio:.2f}× rclone's time (target ≤ {target}×)")
            if label.startswith("seek") and c[3] > 2 * c[4]:
                missed.append(f"{label}: downloaded {c[3] / c[4]:.1f}× what it read (target ≤ 2×)")
            print(f"| {label} | {c[0]:.2f} | {r[0]:.2f} | {ratio:.2f}{mark} | {c[1]} | {r[1]} | {c[2]} | {r[2]} "
                  f"| {c[3] / 2**20:.1f} | {r[3] / 2**20:.1f} |")
        print("\nevery target met" if not missed else "\nMISSED:\n" + "\n".join(missed))
        return 1 if missed else 0
    finally:
        for m in mounts:
            if m.p.poll() is None:
                m.stop()
        emu.kill()
        shutil.rmtree(env.get("EMULATOR_BLOBS", ""), ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
