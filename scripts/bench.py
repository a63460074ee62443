#!/usr/bin/env python3
"""Benchmark of the cloudmux CLI against its emulators. Prints figures; asserts nothing about time.

  Google Drive: put and get of one large file (default 1 GiB): wall time, throughput, the CLI's peak RSS;
                listing of a folder with many entries (default 50,000)
  Yandex Disk:  put and get of the same file

Sizes: BENCH_FILE_MIB (default 1024), BENCH_ENTRIES (default 50000). Release build.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_MIB = int(os.environ.get("BENCH_FILE_MIB", "1024"))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "50000"))


def measured(args, env, allow_fail=False):
    """Runs a command; returns (seconds, its own peak RSS in MiB, stdout, its CPU seconds, exit status); a
    failure ends the benchmark unless `allow_fail`. The peak is read
    from /proc/PID/status (VmHWM) while it runs: getrusage's ru_maxrss would count the Python parent's
    memory, which a forked child carries until exec. The CPU time (user + system) comes from wait4."""
    import threading
    t0 = time.monotonic()
    quiet = subprocess.DEVNULL if not os.environ.get("BENCH_DEBUG") else None
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=quiet)
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)

    w = threading.Thread(target=watch)
    w.start()
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    w.join()
    elapsed = time.monotonic() - t0
    if p.returncode != 0 and not allow_fail:
        sys.exit(f"{' '.join(args)} failed (status {p.returncode})")
    return elapsed, peak[0] / 1024, out, usage.ru_utime + usage.ru_stime, p.returncode


def md5_file(p):
    h = hashlib.md5()
    with open(p, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def blob_dir(fallback):
    """Where the emulator keeps its blobs during a benchmark: RAM (a folder on /dev/shm) where there is one.
    On a nearly full, churned ext4 disk, creating a blob file cost the emulator more than answering the
    request (perf: inode allocation and the folder's lock), which measures the machine's disk, not a client."""
    if Path("/dev/shm").is_dir():
        return Path(tempfile.mkdtemp(prefix="cloudmux-bench-blobs-", dir="/dev/shm"))
    return fallback


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, what):
    """Waits until `proc` (named `what` in errors) accepts connections on `port`."""
    import socket
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"{what} exited (status {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port}")


def first_password(proc):
    """The first admin's password, from what a new `cloudmux serve` prints on stderr (the rest of which
    is then drained in the background)."""
    import threading
    password = None
    for line in proc.stderr:
        m = re.search(r"password (\S+)", line)
        if m:
            password = m.group(1)
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return password


def main():
    print("building release binary…", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-p", "cloudmux", "--quiet"], cwd=ROOT, check=True)
    bin_ = str(ROOT / "target" / "release" / "cloudmux")
    work = Path(tempfile.mkdtemp(prefix="cloudmux-bench-"))
    env = dict(os.environ, CLOUDMUX_CONFIG=str(work / "config.toml"))
    blobs = blob_dir(work)
    emu = subprocess.Popen([bin_, "emulate", "--listen", "127.0.0.1:0", "--auto-approve", "--yandex-poll-interval", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           env=dict(env, TMPDIR=str(blobs)))
    try:
        base = re.match(r"listening on (\S+)", emu.stdout.readline()).group(1)
        _, cid, secret = emu.stdout.readline().strip().rsplit(" ", 2)
        subprocess.run([bin_, "remote", "add", "gd", "--type", "gdrive", "--client-id", cid, "--client-secret", secret,
                        "--endpoint", base], env=env, check=True, capture_output=True)
        login = subprocess.Popen([bin_, "auth", "login", "gd", "--no-browser"], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        urllib.request.urlopen(login.stdout.readline().strip()).read()
        assert login.wait() == 0

        src = work / "big.bin"
        print(f"writing a {FILE_MIB} MiB test file…", file=sys.stderr)
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for i in range(FILE_MIB):
                f.write(block[i % 256:] + block[:i % 256])
        size = src.stat().st_size
        rows = []
        t, rss, _, _, _ = measured([bin_, "--no-progress", "put", str(src), "gd:"], env)
        rows.append((f"put {FILE_MIB} MiB", t, size / t / (1 << 20), rss))
        back = work / "back.bin"
        t, rss, _, _, _ = measured([bin_, "--no-progress", "get", "gd:big.bin", str(back)], env)
        rows.append((f"get {FILE_MIB} MiB", t, size / t / (1 << 20), rss))
        same = md5_file(src) == md5_file(back)
        back.unlink()

        req = urllib.request.Request(f"{base}/__admin/drive/seed", data=json.dumps({"folder": "many", "count": ENTRIES}).encode(),
                                     headers={"Content-Type": "application/json"})
        print(f"seeding {ENTRIES} entries…", file=sys.stderr)
        urllib.request.urlopen(req, timeout=600).read()
        t, rss, out, _, _ = measured([bin_, "lsjson", "gd:many"], env)
        listed = len(json.loads(out))
        rows.append((f"list {ENTRIES} entries", t, listed / t, rss))

        subprocess.run([bin_, "remote", "add", "yd", "--type", "yadisk", "--client-id", cid, "--client-secret", secret,
                        "--endpoint", base], env=env, check=True, capture_output=True)
        subprocess.run([bin_, "auth", "login", "yd"], env=env, check=True, capture_output=True)
        t, rss, _, _, _ = measured([bin_, "--no-progress", "put", str(src), "yd:"], env)
        rows.append((f"yandex put {FILE_MIB} MiB", t, size / t / (1 << 20), rss))
        t, rss, _, _, _ = measured([bin_, "--no-progress", "get", "yd:big.bin", str(back)], env)
        rows.append((f"yandex get {FILE_MIB} MiB", t, size / t / (1 << 20), rss))
        same = same and md5_file(src) == md5_file(back)

        print(f"\n{subprocess.run([bin_, '--version'], capture_output=True, text=True).stdout.strip()} "
              f"against its emulators on 127.0.0.1 ({os.cpu_count()} cores)\n")
        print(f"| {'operation':<22} | {'seconds':>8} | {'rate':>20} | {'peak RSS (MiB)':>14} |")
        print(f"|{'-' * 24}|{'-' * 10}|{'-' * 22}|{'-' * 16}|")
        for name, t, rate, rss in rows:
            unit = "entries/s" if name.startswith("list") else "MiB/s"
            print(f"| {name:<22} | {t:>8.2f} | {rate:>10.1f} {unit:<9} | {rss:>14.1f} |")
        print(f"\ndownloads identical to uploads: {same}; entries listed: {listed} of {ENTRIES}")
    finally:
        emu.terminate()
        emu.wait()
        subprocess.run(["rm", "-rf", str(work), str(blobs)])


if __name__ == "__main__":
    main()
