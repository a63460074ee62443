#!/usr/bin/env python3
"""cloudmux against rclone on the same work, served by one emulator. Prints a table; asserts nothing about time.

rclone cannot change its API base URL, so the emulator also listens with TLS on 127.0.0.1:443 answering by
Host header, with a certificate from a throw-away CA made here; the Google and Yandex host names resolve to
127.0.0.1 only inside a private mount namespace (`unshare -m`) whose /etc/hosts is a bind-mounted copy. The
machine's /etc/hosts is never touched. Both tools run inside that namespace, reach the emulator by the real
host names over TLS and trust the CA (`rclone --ca-cert`, cloudmux's `ca_cert`), with their default settings.

Modes (first argument, default `default`):
  default  both tools with their default settings, the emulator without quotas;
  quota    both with their defaults against `emulate --quota realistic` (the services' published limits):
           what a user meets in production; prints each tool's requests and the share the quota refused;
           adds the upload of a BENCH_VIDEO_MIB (4) MiB .mp4 to Yandex Disk, a kind it throttles;
  raw      no quotas, rclone's Drive pacer off (--drive-pacer-min-sleep 1ms --drive-pacer-burst 100000) and
           --transfers 8 for both: client efficiency alone;
  faults   the chain local → Drive → Yandex Disk → local of a 230-file tree (225 small files, five of 9 MB),
           `sync` for both tools with their defaults, first with no faults, then with the emulator failing
           10 % of requests with every kind of fault it knows (429, 403 userRateLimitExceeded, 503, 500 after
           acting, connection resets; FAULT_RATE, FAULT_SEED change them) and Google access tokens lasting
           4 s; the same seed for both tools. Checks every file back home and on Drive (MD5), no duplicate
           on Drive. Target: cloudmux's chain under faults within 3× its time without.

Work (Drive and Yandex Disk): upload of 2,000 files of 16 KiB, upload and download of one 1 GiB file,
listing of a 50,000-entry folder and a recursive walk of 2,000 folders of 5 files (Drive; not in quota
mode; rclone with --fast-list, cloudmux with its defaults). Figures: seconds per tool, the ratio
cloudmux / rclone with its target, each tool's peak RSS and CPU seconds, and the emulator's CPU seconds
during each tool's run, and each tool's requests. Sizes: BENCH_FILE_MIB (1024), BENCH_FILES (2000),
BENCH_ENTRIES (50000), BENCH_WALK_FOLDERS (2000); BENCH_BIN
runs a given cloudmux binary (an older build, to compare) instead of building this tree's. The
emulator keeps its blobs in RAM (/dev/shm) where there is one (see `bench.blob_dir`).

Needs root (port 443, mount namespace); installs rclone and openssl from Debian packages when missing.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import blob_dir, md5_file, measured  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FILE_MIB = int(os.environ.get("BENCH_FILE_MIB", "1024"))
FILES = int(os.environ.get("BENCH_FILES", "2000"))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "50000"))
WALK_FOLDERS = int(os.environ.get("BENCH_WALK_FOLDERS", "2000"))
VIDEO_MIB = int(os.environ.get("BENCH_VIDEO_MIB", "4"))
TLS_ADDR = "127.0.0.1:443"


def need(tool, package):
    if shutil.which(tool):
        return
    print(f"installing {package} (Debian package)…", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-q", package], env=env, check=True, stdout=subprocess.DEVNULL)


def known_hosts(bin_):
    out = subprocess.run([bin_, "emulate", "--print-hosts"], check=True, capture_output=True, text=True).stdout
    return out.split()


def make_ca(work, hosts):
    """A throw-away CA and a server certificate for every emulated host name, signed by it."""
    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=cloudmux bench throw-away CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=cloudmux emulator")
    (work / "server.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=" + ",".join(f"DNS:{h}" for h in hosts) + ",IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    (work / "ca.key").unlink()


def in_namespace(hosts_file, args):
    """`args` in a private mount namespace whose /etc/hosts is `hosts_file` (same PID: unshare and sh exec)."""
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, str(hosts_file), *args]


def login(bin_, env, name, kind, cid, secret, base):
    subprocess.run([bin_, "remote", "add", name, "--type", kind, "--client-id", cid, "--client-secret", secret,
                    "--endpoint", base], env=env, check=True, capture_output=True)
    if kind == "gdrive":
        p = subprocess.Popen([bin_, "auth", "login", name, "--no-browser"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        urllib.request.urlopen(p.stdout.readline().strip()).read()
        assert p.wait() == 0, f"login of {name} failed"
    else:
        subprocess.run([bin_, "auth", "login", name], env=env, check=True, capture_output=True)
    return json.loads((Path(env["CLOUDMUX_CONFIG"]).parent / "tokens" / f"{name}.token.json").read_text())


def rclone_token(t):
    expiry = datetime.fromtimestamp(t.get("expires_at", time.time() + 3600), timezone.utc)
    return json.dumps({"access_token": t["access_token"], "token_type": "Bearer",
                       "refresh_token": t.get("refresh_token", ""), "expiry": expiry.isoformat()})


def emulated_services(bin_, work, emu_flags=()):
    """Starts the emulator with TLS on TLS_ADDR (a throw-away CA in `work`, the services' host names in
    `work/hosts` for `in_namespace`), signs in cloudmux remotes `gd` and `yd` and rclone remotes `rgd` and
    `ryd` through its own OAuth flows, and returns (the emulator process, the environment to run both tools
    in: their config files, EMULATOR_BASE, its plain-HTTP address, and EMULATOR_BLOBS, the folder of its
    blobs, for the caller to remove)."""
    hosts = known_hosts(bin_)
    make_ca(work, hosts)
    (work / "hosts").write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in hosts))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["CLOUDMUX_CONFIG"] = str(work / "cloudmux" / "config.toml")
    env["RCLONE_CONFIG"] = str(work / "rclone.conf")
    blobs = blob_dir(work)
    env["EMULATOR_BLOBS"] = str(blobs)
    emu = subprocess.Popen([bin_, "emulate", "--listen", "127.0.0.1:0", "--auto-approve", "--yandex-poll-interval",
                            "1", "--tls-listen", TLS_ADDR, "--tls-cert", str(work / "server.pem"),
                            "--tls-key", str(work / "server.key"), *emu_flags],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           env=dict(env, TMPDIR=str(blobs)))
    try:
        base = re.match(r"listening on (\S+)", emu.stdout.readline()).group(1)
        _, cid, secret = emu.stdout.readline().strip().rsplit(" ", 2)
        if not emu.stdout.readline().startswith("listening on https://"):
            sys.exit(f"the emulator could not listen on {TLS_ADDR}")
        # Tokens come from the emulator's own OAuth flows (signed in over plain HTTP, then used over TLS).
        tokens = {}
        for name, kind in [("gd", "gdrive"), ("yd", "yadisk"), ("rgd", "gdrive"), ("ryd", "yadisk")]:
            tokens[name] = login(bin_, env, f"{name}-login", kind, cid, secret, base)
        cfg_dir = Path(env["CLOUDMUX_CONFIG"]).parent
        for name, kind in [("gd", "gdrive"), ("yd", "yadisk")]:
            subprocess.run([bin_, "remote", "add", name, "--type", kind, "--client-id", cid, "--client-secret",
                            secret, "--ca-cert", str(work / "ca.pem")], env=env, check=True, capture_output=True)
            tok = cfg_dir / "tokens" / f"{name}.token.json"
            shutil.copy(cfg_dir / "tokens" / f"{name}-login.token.json", tok)
            os.chmod(tok, 0o600)
        conf = (f"[rgd]\ntype = drive\nclient_id = {cid}\nclient_secret = {secret}\nscope = drive\n"
                f"token = {rclone_token(tokens['rgd'])}\n\n"
                f"[ryd]\ntype = yandex\nclient_id = {cid}\nclient_secret = {secret}\n"
                f"token = {rclone_token(tokens['ryd'])}\n")
        Path(env["RCLONE_CONFIG"]).write_text(conf)
        os.chmod(env["RCLONE_CONFIG"], 0o600)
    except BaseException:
        emu.kill()
        shutil.rmtree(blobs, ignore_errors=True)
        raise
    env["EMULATOR_BASE"] = base
    return emu, env


MODES = {
    # mode: (emulator flags, cloudmux flags for folder copies, rclone flags, targets)
    "default": ([], [], [], {"small": 0.5, "up": 0.8, "down": 0.8, "list": 1.0, "walk": 0.5}),
    "quota": (["--quota", "realistic"], [], [], {"small": 0.6, "up": 0.8, "down": 0.8}),
    "faults": (["--token-lifetime", "4"], [], [], {"faults": 3.0}),
    "raw": ([], ["--transfers", "8"],
            ["--transfers", "8", "--drive-pacer-min-sleep", "1ms", "--drive-pacer-burst", "100000"],
            {"small": 0.6, "up": 0.8, "down": 0.5, "list": 0.6, "walk": 0.5}),
}


def tree_digest(root):
    """{relative path: MD5} of every file below `root`."""
    return {str(p.relative_to(root)): md5_file(p) for p in sorted(Path(root).rglob("*")) if p.is_file()}


def faults_chain(work, env, cloudmux, rclone, target, bin_):
    """The `faults` mode (see the module docs). Returns the exit status."""
    base = env["EMULATOR_BASE"]
    rate = float(os.environ.get("FAULT_RATE", "0.1"))
    seed = int(os.environ.get("FAULT_SEED", "3"))
    tree = work / "tree"
    for i in range(225):
        d = tree / f"d{i % 9}" / f"e{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"small{i}.txt").write_bytes(os.urandom(1000 + i * 37))
    for i in range(5):
        (tree / f"big{i}.bin").write_bytes(os.urandom(9_000_000))
    want = tree_digest(tree)

    def faults(r):
        body = {"rate": r, "seed": seed,
                "kinds": ["too_many", "rate_limit403", "unavailable", "fail_after", "reset"]}
        req = urllib.request.Request(f"{base}/__admin/faults", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()

    def injected():
        with urllib.request.urlopen(f"{base}/__admin/faults") as r:
            return json.load(r).get("injected", 0)

    rows, problems = [], []
    for r in (0.0, rate):
        for tool, run, gd, yd in (("cloudmux", cloudmux, "gd", "yd"), ("rclone", rclone, "rgd", "ryd")):
            tag = f"{tool}-{'f' if r else 'n'}"
            back = work / f"back-{tag}"
            legs = [("local → Drive", ["sync", str(tree), f"{gd}:{tag}"]),
                    ("Drive → Yandex", ["sync", f"{gd}:{tag}", f"{yd}:{tag}"]),
                    ("Yandex → local", ["sync", f"{yd}:{tag}", str(back)])]
            print(f"{tool}, faults {r:.0%}…", file=sys.stderr)
            faults(r)
            i0 = injected()
            times, codes = [], []
            for _, args in legs:
                secs, _rss, _out, _cpu, code = run(*args, allow_fail=True)
                times.append(secs)
                codes.append(code)
            n_injected = injected() - i0
            faults(0.0)
            got = tree_digest(back) if back.exists() else {}
            lost = sorted(set(want) - set(got))
            bad = sorted(k for k in want if k in got and got[k] != want[k])
            listing = json.loads(cloudmux("lsjson", "-R", f"gd:{tag}")[2])
            files = [e for e in listing if not e.get("is_dir")]
            for e in files:
                e["path"] = e["path"].lstrip("/").removeprefix(f"{tag}/")
            paths = [e["path"] for e in files]
            dups = len(paths) - len(set(paths))
            drive_bad = sum(1 for e in files if want.get(e["path"]) not in (None, (e.get("hashes") or {}).get("md5")))
            rows.append((tool, r, times, codes, n_injected, len(lost), len(bad), dups, len(files), drive_bad))
            if lost or bad or dups or drive_bad or len(files) != len(want):
                problems.append(f"{tool} at {r:.0%}: {len(lost)} lost, {len(bad)} corrupt at home, {dups} "
                                f"duplicated and {drive_bad} corrupt of {len(files)} on Drive")
            shutil.rmtree(back, ignore_errors=True)

    rc_version = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0]
    cm_version = subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\n{cm_version} vs {rc_version}, one emulator over TLS on {TLS_ADDR} ({os.cpu_count()} cores), "
          f"{datetime.now().date()}, mode faults: 230 files (225 small, 5 × 9 MB), Google tokens of 4 s, "
          f"faults of every kind at {rate:.0%} (seed {seed})\n")
    print("| tool | faults | local → Drive s | Drive → Yandex s | Yandex → local s | chain s | exit codes "
          "| faults injected | lost / corrupt / duplicated |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---|")
    total = {}
    for tool, r, times, codes, n_inj, lost, bad, dups, _n, drive_bad in rows:
        total[(tool, r)] = sum(times)
        print(f"| {tool} | {r:.0%} | " + " | ".join(f"{t:.1f}" for t in times) + f" | {sum(times):.1f} | "
              f"{' '.join(map(str, codes))} | {n_inj} | {lost} / {bad + drive_bad} / {dups} |")
    print()
    for tool in ("cloudmux", "rclone"):
        slow = total[(tool, rate)] / total[(tool, 0.0)]
        mark = "" if tool != "cloudmux" or slow <= target else " ✗"
        print(f"{tool}: {total[(tool, rate)]:.1f} s with faults / {total[(tool, 0.0)]:.1f} s without = "
              f"{slow:.1f}×{mark}" + (f" (target ≤ {target}×)" if tool == "cloudmux" else ""))
        if tool == "cloudmux" and slow > target:
            problems.append(f"cloudmux's chain under faults took {slow:.1f}× its time without (target ≤ {target}×)")
    print("\nevery file back home and on Drive, none duplicated" if not problems else "\nPROBLEMS:\n" +
          "\n".join(problems))
    return 1 if problems else 0


def prepare():
    """Checks for root, installs rclone and openssl when missing, and returns the cloudmux binary to measure:
    BENCH_BIN, or this tree's release build."""
    if os.geteuid() != 0:
        sys.exit("run as root: the emulator listens on port 443 and rclone runs in a private mount namespace")
    need("rclone", "rclone")
    need("openssl", "openssl")
    bin_ = os.environ.get("BENCH_BIN")
    if not bin_:
        print("building release binary…", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-p", "cloudmux", "--quiet"], cwd=ROOT, check=True)
        bin_ = str(ROOT / "target" / "release" / "cloudmux")
    return bin_


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "default"
    if mode not in MODES:
        sys.exit(f"unknown mode {mode!r}: use {', '.join(MODES)}")
    emu_flags, cm_flags, rc_flags, targets = MODES[mode]
    bin_ = prepare()
    work = Path(tempfile.mkdtemp(prefix="cloudmux-rclone-bench-"))
    emu, env = emulated_services(bin_, work, emu_flags)
    try:
        base = env["EMULATOR_BASE"]

        hosts_file = work / "hosts"
        ca = str(work / "ca.pem")

        def cloudmux(*args, allow_fail=False):
            return measured(in_namespace(hosts_file, [bin_, "--no-progress", *args]), env, allow_fail)

        def rclone(*args, allow_fail=False):
            debug = ["-vv", "--dump", "headers"] if os.environ.get("BENCH_DEBUG") else []
            return measured(in_namespace(hosts_file, ["rclone", "--ca-cert", ca, *debug, *rc_flags, *args]), env,
                            allow_fail)

        def quota_counts():
            with urllib.request.urlopen(f"{base}/__admin/quota") as r:
                return json.load(r)["counts"]

        if mode == "faults":
            return faults_chain(work, env, cloudmux, rclone, targets["faults"], bin_)

        small = work / "small"
        small.mkdir()
        for i in range(FILES):
            (small / f"f{i:05}.bin").write_bytes(os.urandom(16 * 1024))
        big = work / "big.bin"
        print(f"writing a {FILE_MIB} MiB test file…", file=sys.stderr)
        with open(big, "wb") as f:
            block = os.urandom(1 << 20)
            for i in range(FILE_MIB):
                f.write(block[i % 256:] + block[:i % 256])
        want = md5_file(big)
        if "list" in targets:
            req = urllib.request.Request(f"{base}/__admin/drive/seed",
                                         data=json.dumps({"folder": "many", "count": ENTRIES}).encode(),
                                         headers={"Content-Type": "application/json"})
            print(f"seeding {ENTRIES} Drive entries…", file=sys.stderr)
            urllib.request.urlopen(req, timeout=600).read()
        if "walk" in targets:
            req = urllib.request.Request(f"{base}/__admin/drive/seed",
                                         data=json.dumps({"folder": "deep", "folders": WALK_FOLDERS,
                                                          "count": 5}).encode(),
                                         headers={"Content-Type": "application/json"})
            print(f"seeding a Drive tree of {WALK_FOLDERS} folders × 5 files…", file=sys.stderr)
            urllib.request.urlopen(req, timeout=600).read()

        rows = []
        problems = []
        refused = []

        def emu_cpu():
            fields = Path(f"/proc/{emu.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        def settle():
            """Starts each run from a quiet machine: written data flushed to disk, and the emulator idle (it
            finishes SHA-1/SHA-256 of a large upload in the background when a client asked for them)."""
            os.sync()
            last = emu_cpu()
            for _ in range(300):
                time.sleep(0.2)
                now = emu_cpu()
                if now - last < 0.02:
                    return
                last = now

        def both(label, target, cm_args, rc_args, check=None, svc=None):
            print(f"{label}…", file=sys.stderr)
            settle()
            q0, e0 = quota_counts(), emu_cpu()
            c = cloudmux(*cm_args)
            q1, e1 = quota_counts(), emu_cpu()
            settle()
            e1 = emu_cpu()
            r = rclone(*rc_args)
            q2, e2 = quota_counts(), emu_cpu()
            rows.append((label, c[0], r[0], target, c[1], r[1], c[3], r[3], e1 - e0, e2 - e1))
            if svc:
                def delta(a, b):
                    x, y = a.get(svc, {}), b.get(svc, {})
                    return (y.get("requests", 0) - x.get("requests", 0), y.get("rejected", 0) - x.get("rejected", 0))
                refused.append((label, delta(q0, q1), delta(q1, q2)))
            if check:
                problems.extend(check(c, r))

        for svc, cm, rc, qsvc in [("Drive", "gd", "rgd", "drive"), ("Yandex", "yd", "ryd", "yandex")]:
            def uploaded(cm=cm, rc=rc):
                def count(_c, _r):
                    n_cm = len(json.loads(cloudmux("lsjson", f"{cm}:small-cloudmux")[2]))
                    n_rc = len(rclone("lsf", f"{rc}:small-rclone")[2].splitlines())
                    return [f"{who}: {n} of {FILES} small files" for who, n in (("cloudmux", n_cm), ("rclone", n_rc))
                            if n != FILES]
                return count
            both(f"{svc}: upload {FILES} × 16 KiB", targets["small"],
                 ["cp", *cm_flags, str(small), f"{cm}:small-cloudmux"],
                 ["copy", str(small), f"{rc}:small-rclone"], uploaded(), qsvc)
            both(f"{svc}: upload {FILE_MIB} MiB", targets["up"], ["put", str(big), f"{cm}:big-cloudmux.bin"],
                 ["copyto", str(big), f"{rc}:big-rclone.bin"], None, qsvc)
            back_c, back_r = work / "back-cloudmux.bin", work / "back-rclone.bin"

            def downloaded(_c, _r, back_c=back_c, back_r=back_r, svc=svc):
                out = [f"{svc}: {p.name} differs from the upload" for p in (back_c, back_r) if md5_file(p) != want]
                back_c.unlink()
                back_r.unlink()
                return out
            both(f"{svc}: download {FILE_MIB} MiB", targets["down"], ["get", f"{cm}:big-cloudmux.bin", str(back_c)],
                 ["copyto", f"{rc}:big-rclone.bin", str(back_r)], downloaded, qsvc)
        if mode == "quota":
            # Yandex throttles uploads of video, archives and data files (by the name the link is asked
            # for) to ~128 KiB/s; cloudmux uploads them under a neutral name and moves them onto theirs.
            video = work / "clip.mp4"
            video.write_bytes(os.urandom(VIDEO_MIB << 20))
            both(f"Yandex: upload a {VIDEO_MIB} MiB .mp4 (a throttled kind)", targets["up"],
                 ["put", str(video), "yd:clip-cloudmux.mp4"], ["copyto", str(video), "ryd:clip-rclone.mp4"],
                 None, "yandex")
        if "list" in targets:
            both(f"Drive: list {ENTRIES} entries", targets["list"], ["lsjson", "gd:many"], ["lsjson", "rgd:many"],
                 lambda c, r: [f"listing gave {n} of {ENTRIES}" for n in (len(json.loads(c[2])),
                                                                          len(json.loads(r[2]))) if n != ENTRIES])

        walked = []
        if "walk" in targets:
            # The top folder, its groups of 50 and the leaves, with 5 files in each leaf.
            want_entries = WALK_FOLDERS + -(-WALK_FOLDERS // 50) + 5 * WALK_FOLDERS
            both(f"Drive: walk {WALK_FOLDERS:,} folders × 5 files (lsjson -R; rclone --fast-list)", targets["walk"],
                 ["lsjson", "-R", "gd:deep"], ["lsjson", "-R", "--fast-list", "rgd:deep"],
                 lambda c, r: [f"the walk gave {n} of {want_entries} entries"
                               for n in (len(json.loads(c[2])), len(json.loads(r[2]))) if n != want_entries],
                 "drive")
            walked.append(refused[-1][1][0])

        rc_version = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0]
        cm_version = subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()
        settings = {"default": "default settings of both tools", "quota": "default settings, emulator with "
                    "--quota realistic", "raw": "no quotas, rclone's pacer off, --transfers 8 for both"}[mode]
        print(f"\n{cm_version} vs {rc_version}, one emulator over TLS on {TLS_ADDR} ({os.cpu_count()} cores), "
              f"mode {mode}: {settings}\n")
        print("| work | cloudmux s | rclone s | ratio | target | RSS MiB cloudmux / rclone "
              "| CPU s cloudmux / rclone | emulator CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, c, r, target, crss, rrss, ccpu, rcpu, ecm, erc in rows:
            ratio = c / r
            mark = "" if ratio <= target else " ✗"
            print(f"| {label} | {c:.2f} | {r:.2f} | {ratio:.2f}{mark} | ≤ {target} | {crss:.1f} / {rrss:.1f} "
                  f"| {ccpu:.1f} / {rcpu:.1f} | {ecm:.1f} / {erc:.1f} |")
        if refused:
            print("\n| work | cloudmux requests | refused | rclone requests | refused |")
            print("|---|---:|---:|---:|---:|")
            for label, (cn, cr), (rn, rr) in refused:
                pc = 100 * cr / cn if cn else 0
                pr = 100 * rr / rn if rn else 0
                print(f"| {label} | {cn} | {cr} ({pc:.1f} %) | {rn} | {rr} ({pr:.1f} %) |")
                if cn and pc > 5 and mode == "quota":
                    problems.append(f"{label}: the quota refused {pc:.1f} % of cloudmux's requests (target ≤ 5 %)")
        if walked:
            folders = WALK_FOLDERS + -(-WALK_FOLDERS // 50) + 1
            print(f"\nwalk: cloudmux sent {walked[0]} Drive requests for {folders} folders "
                  f"(1/{folders / max(walked[0], 1):.0f} of one per folder)")
            if walked[0] * 20 > folders:
                problems.append(f"walk: {walked[0]} requests for {folders} folders (target ≤ 1/20)")
        print("\nall transfers verified (counts, MD5 of downloads)" if not problems else "\nPROBLEMS:\n" +
              "\n".join(problems))
        if problems:
            sys.exit(1)
    finally:
        emu.terminate()
        emu.wait()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(env["EMULATOR_BLOBS"], ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
