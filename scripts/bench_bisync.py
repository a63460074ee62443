#!/usr/bin/env python3
"""`cloudmux bisync` against `rclone bisync`: a local folder and a Drive folder of 10,000 files, on one emulator
(the one `bench_rclone.py` starts: TLS on 127.0.0.1:443, the real host names inside a private mount namespace,
`--quota realistic` unless BENCH_QUOTA=off). Prints a table; asserts nothing about time.

Each tool gets its own copy of the tree: the emulator seeds two Drive folders alike (BENCH_FOLDERS folders of
BENCH_PER files, 200 × 50 by default), each tool's first run (`--resync`) brings one into a local folder of
its own. Then, for each tool:

  1. a pass with nothing changed (time, requests to Drive);
  2. a pass after 100 changes on each side: 100 local files edited, 100 new files put on Drive (by
     cloudmux, the same for both tools, outside the timing).

After each pass both sides are compared (every path, every MD5). BENCH_TOOLS=cloudmux (or rclone) runs one
tool only (rclone's first run takes about 17 minutes). Needs root (as bench_rclone.py).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import measured  # noqa: E402
from bench_rclone import emulated_services, in_namespace, prepare  # noqa: E402

FOLDERS = int(os.environ.get("BENCH_FOLDERS", "200"))
PER = int(os.environ.get("BENCH_PER", "50"))
CHANGES = int(os.environ.get("BENCH_CHANGES", "100"))


def local_md5s(root):
    out = {}
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".cloudmux-bisync")]
        for n in names:
            if n.startswith(".cloudmux-bisync") or n.endswith(".lck"):
                continue
            p = Path(dirpath) / n
            out[str(p.relative_to(root))] = hashlib.md5(p.read_bytes()).hexdigest()
    return out


def main():
    bin_ = prepare()
    quota = os.environ.get("BENCH_QUOTA", "realistic")
    work = Path(tempfile.mkdtemp(prefix="cloudmux-bisync-bench-"))
    emu, env = emulated_services(bin_, work, ["--quota", quota])
    try:
        base = env["EMULATOR_BASE"]
        hosts = work / "hosts"

        def cloudmux(*args, allow_fail=False):
            return measured(in_namespace(hosts, [bin_, "--no-progress", *args]), env, allow_fail)

        def rclone(*args, allow_fail=False):
            return measured(in_namespace(hosts, ["rclone", "--ca-cert", str(work / "ca.pem"), *args]), env,
                            allow_fail)

        def drive_requests():
            with urllib.request.urlopen(f"{base}/__admin/stats") as r:
                return json.load(r)["requests"].get("www.googleapis.com", 0)

        files = FOLDERS * PER
        for name in ("cm", "rc"):
            req = urllib.request.Request(f"{base}/__admin/drive/seed",
                                         data=json.dumps({"folder": name, "folders": FOLDERS,
                                                          "count": PER}).encode(),
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=600).read()
        print(f"seeded two Drive folders of {files} files in {FOLDERS} folders", file=sys.stderr)

        def drive_md5s(remote):
            listing = json.loads(cloudmux("lsjson", "-R", f"gd:{remote}")[2])
            return {e["path"].lstrip("/").removeprefix(f"{remote}/"): (e.get("hashes") or {}).get("md5")
                    for e in listing if not e.get("is_dir")}

        tools = {
            "cloudmux": (work / "cm", "cm",
                         lambda *extra: cloudmux("bisync", str(work / "cm"), "gd:cm", *extra, allow_fail=True)),
            "rclone": (work / "rc", "rc",
                       lambda *extra: rclone("bisync", str(work / "rc"), "rgd:rc", "--workdir",
                                             str(work / "rc-state"), *extra, allow_fail=True)),
        }
        rows, problems = [], []

        def check(tool, label):
            local, remote, _ = tools[tool]
            here, there = local_md5s(local), drive_md5s(remote)
            if here != there:
                only_here = sorted(set(here) - set(there))[:3]
                only_there = sorted(set(there) - set(here))[:3]
                differ = sorted(k for k in here if k in there and here[k] != there[k])[:3]
                problems.append(f"{tool} after {label}: sides differ ({len(here)} here, {len(there)} on Drive; "
                                f"only here {only_here}, only on Drive {only_there}, differ {differ})")

        wanted = os.environ.get("BENCH_TOOLS", "cloudmux,rclone").split(",")
        for tool, (local, remote, run) in tools.items():
            if tool not in wanted:
                continue
            local.mkdir()
            print(f"{tool}: first run (--resync)…", file=sys.stderr)
            r0 = drive_requests()
            secs, rss, _out, cpu, code = run("--resync")
            rows.append((tool, "first run (--resync, 10k files down)", secs, drive_requests() - r0, rss, code))
            check(tool, "the first run")

            print(f"{tool}: a pass with nothing changed…", file=sys.stderr)
            r0 = drive_requests()
            secs, rss, _out, cpu, code = run()
            rows.append((tool, "nothing changed", secs, drive_requests() - r0, rss, code))

            # 100 local edits, 100 new files on Drive (put by cloudmux for both tools, untimed).
            names = sorted(local_md5s(local))
            step = max(1, len(names) // CHANGES)
            for rel in names[::step][:CHANGES]:
                with open(local / rel, "a") as f:
                    f.write(f"edited for the {tool} pass\n")
            new = work / f"new-{tool}"
            new.mkdir()
            for i in range(CHANGES):
                (new / f"n{i:03}.txt").write_text(f"new on Drive {i} for {tool}\n")
            cloudmux("cp", str(new), f"gd:{remote}/new")
            print(f"{tool}: a pass with {CHANGES} changes on each side…", file=sys.stderr)
            r0 = drive_requests()
            secs, rss, _out, cpu, code = run()
            rows.append((tool, f"{CHANGES} changes each side", secs, drive_requests() - r0, rss, code))
            check(tool, "the changes")

        rc_version = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0]
        cm_version = subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"\n{cm_version} vs {rc_version}, emulator --quota {quota} over TLS ({os.cpu_count()} cores), "
              f"{time.strftime('%Y-%m-%d')}: a local folder and a Drive folder of {files} files in "
              f"{FOLDERS} folders\n")
        print("| pass | cloudmux s | rclone s | cloudmux Drive requests | rclone Drive requests "
              "| peak RSS MiB cloudmux / rclone | exit codes |")
        print("|---|---:|---:|---:|---:|---:|---|")
        by = {(t, label): (s, n, rss, code) for t, label, s, n, rss, code in rows}
        none = (float("nan"), "—", float("nan"), "—")
        for label in dict.fromkeys(label for _, label, *_ in rows):
            c, r = by.get(("cloudmux", label), none), by.get(("rclone", label), none)
            print(f"| {label} | {c[0]:.2f} | {r[0]:.2f} | {c[1]} | {r[1]} | {c[2]:.0f} / {r[2]:.0f} | "
                  f"{c[3]} / {r[3]} |")
            for tool, x in (("cloudmux", c), ("rclone", r)):
                if x[3] not in (0, "—"):
                    problems.append(f"{tool} {label}: exit {x[3]}")
        print("\nboth sides equal after every pass of both tools" if not problems else "\nPROBLEMS:\n" +
              "\n".join(problems))
        return 1 if problems else 0
    finally:
        emu.terminate()
        emu.wait()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(env["EMULATOR_BLOBS"], ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
