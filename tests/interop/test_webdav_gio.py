"""The WebDAV client of GNOME's file manager (gvfs's dav backend, driven with `gio` in a private D-Bus
session; Debian's gvfs-backends) against `cloudmux serve --demo`: sign in with the demo login, browse the
mounts, upload into the local mount, read it back, delete it."""

import shutil
import subprocess

SCRIPT = r"""
set -e
printf 'admin\ncloudmux-demo\n' | gio mount "$DAV" > /dev/null 2>&1
echo "== top"; gio list "$DAV"
echo "== local"; gio list "$DAV/local/"
gio copy "$SRC" "$DAV/local/from-gio.txt"
echo "== back"; gio cat "$DAV/local/from-gio.txt"
gio remove "$DAV/local/from-gio.txt"
echo "== after"; gio list "$DAV/local/"
"""


def test_gvfs_dav_client(demo_server, tmp_path):
    for tool in ("gio", "dbus-run-session"):
        assert shutil.which(tool), f"{tool} is missing: ./scripts/test.sh installs gvfs-backends and dbus"
    base, work, _ = demo_server
    dav = base.replace("http://", "dav://") + "/dav"
    src = tmp_path / "from-gio.txt"
    src.write_text("written by the file manager's WebDAV client\n")
    r = subprocess.run(["dbus-run-session", "--", "bash", "-c", SCRIPT], capture_output=True, text=True,
                       timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DAV": dav, "SRC": str(src)})
    assert r.returncode == 0, r.stdout + r.stderr
    parts = dict(p.split("\n", 1) for p in r.stdout.split("== ")[1:])
    assert set(parts["top"].split()) >= {"gdrive", "local", "photos", "yadisk"}, r.stdout
    assert "README.txt" in parts["local"].split()
    assert parts["back"] == src.read_text()
    assert "from-gio.txt" not in parts["after"].split()
    assert not (work / "demo-data" / "from-gio.txt").exists()
