"""rclone's webdav backend (Debian's rclone) against `cloudmux serve --demo`'s /dav: list the mounts, upload
a file into the emulated Drive, read it back, copy it to Yandex Disk server to server, delete it."""

import os
import shutil
import subprocess


def rclone(*args, check=True):
    exe = shutil.which("rclone")
    assert exe, "rclone is missing: ./scripts/test.sh installs it (Debian package)"
    r = subprocess.run([exe, "--config", "/dev/null", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"rclone {' '.join(args)}: {r.stderr}"
    return r


def test_rclone_webdav_backend(demo_server, tmp_path):
    base, _, _ = demo_server
    url = base + "/dav/"
    password = rclone("obscure", "cloudmux-demo").stdout.strip()
    remote = f":webdav,url='{url}',vendor=other,user=admin,pass='{password}':"
    top = rclone("lsf", remote).stdout.split()
    assert set(top) >= {"gdrive/", "local/", "photos/", "yadisk/"}, top
    src = tmp_path / "from rclone.txt"
    src.write_bytes(os.urandom(200_000))
    rclone("copyto", str(src), remote + "gdrive/from rclone.txt")
    assert "from rclone.txt" in rclone("lsf", remote + "gdrive").stdout.splitlines()
    back = tmp_path / "back.bin"
    rclone("copyto", remote + "gdrive/from rclone.txt", str(back))
    assert back.read_bytes() == src.read_bytes()
    # Across two mounts (two remotes), through the server.
    rclone("copyto", remote + "gdrive/from rclone.txt", remote + "yadisk/copied.txt")
    rclone("copyto", remote + "yadisk/copied.txt", str(tmp_path / "copied.bin"))
    assert (tmp_path / "copied.bin").read_bytes() == src.read_bytes()
    rclone("deletefile", remote + "gdrive/from rclone.txt")
    assert "from rclone.txt" not in rclone("lsf", remote + "gdrive").stdout.splitlines()
    wrong = rclone("lsf", f":webdav,url='{url}',vendor=other,user=admin,pass='{rclone('obscure', 'nope').stdout.strip()}':",
                   check=False)
    assert wrong.returncode != 0
