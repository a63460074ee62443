"""AList's API as another third-party client speaks it: the `alist3` package from PyPI (aiohttp, the
`AListSync` client) against `cloudmux serve --demo --alist-listen` (alist3 joins its routes to the
root of the address, so it needs AList's own address): ping, sign-in by hash, the user, site settings,
listing with paging, get and download, mkdir, upload, rename, regex and batch renames, copy (also to
another remote), move, recursive move, remove, removing empty folders, search; and what cloudmux does
not serve (SSH keys, the admin routes) answered with what to use instead."""

import pytest
from alist import AListSync, AListUser, ServerError

from conftest import demo, free_port, wait_for

PASSWORD = "cloudmux-demo"


def test_alist3_drives_the_alist_door():
    port = free_port()
    with demo("--alist-listen", f"127.0.0.1:{port}") as (_, work, _emulator):
        data = work / "demo-data"
        c = AListSync(f"http://127.0.0.1:{port}")
        assert wait_for(c.test), "ping"
        assert c.login(AListUser("admin", PASSWORD))
        me = c.user_info()
        assert me.username == "admin" and me.role == 2
        assert c.site_config().site_title == "cloudmux"

        # Listing with paging, then get and download.
        names = [i.name for i in c.list_dir("/local", per_page=0)]
        assert {"README.txt", "README.md", "notes"} <= set(names)
        assert [i.name for i in c.list_dir("/local", page=1, per_page=2)] == names[:2]
        f = c.open("/local/README.txt")
        assert f.size == (data / "README.txt").stat().st_size
        with f:
            assert f.read() == (data / "README.txt").read_bytes()

        # mkdir, upload, rename.
        assert c.mkdir("/local/a3")
        assert c.upload("/local/a3/01-intro.txt", b"one")
        assert c.upload("/local/a3/02-song.txt", b"two")
        assert (data / "a3" / "01-intro.txt").read_bytes() == b"one"
        assert c.rename("/local/a3/02-song.txt", "02-tune.txt")
        assert (data / "a3" / "02-tune.txt").exists()

        # Regex and batch renames, as alist3 sends them.
        assert c.rename_regex("/local/a3", r"^(\d+)-(.*)\.txt$", "$2-$1.txt")
        assert sorted(p.name for p in (data / "a3").iterdir()) == ["intro-01.txt", "tune-02.txt"]
        assert c.rename_batch("/local/a3", ["intro-01.txt"], ["first.txt"])
        assert (data / "a3" / "first.txt").exists()

        # Copy within the folder's remote and to another one (a background task), move.
        assert c.mkdir("/local/a3/sub/deeper")
        assert c.copy("/local/a3/first.txt", "/local/a3/sub/deeper")
        assert wait_for(lambda: (data / "a3" / "sub" / "deeper" / "first.txt").exists())
        assert c.copy("/local/a3/first.txt", "/gdrive")
        assert wait_for(lambda: any(i.name == "first.txt" for i in c.list_dir("/gdrive", per_page=0)))
        assert c.move("/local/a3/tune-02.txt", "/local/a3/sub")
        assert (data / "a3" / "sub" / "tune-02.txt").exists()

        # Recursive move flattens the folder: refused while a name is taken (nothing moved), done once
        # it is free; then the empty folders go.
        with pytest.raises(ServerError, match="first.txt"):
            c.recursive_move("/local/a3/sub", "/local/a3")
        assert (data / "a3" / "sub" / "tune-02.txt").exists()
        assert c.remove("/local/a3/first.txt")
        assert not (data / "a3" / "first.txt").exists()
        assert c.recursive_move("/local/a3/sub", "/local/a3")
        assert sorted(p.name for p in (data / "a3").iterdir()) == ["first.txt", "sub", "tune-02.txt"]
        assert c.remove_folder("/local/a3")
        assert sorted(p.name for p in (data / "a3").iterdir()) == ["first.txt", "tune-02.txt"]

        # Search.
        found = c.search_file("todo", parent="/local")
        assert any(i.name == "todo.md" for i in found.content), found

        # Not served here: said, with what to use.
        with pytest.raises(ServerError, match="WebDAV"):
            list(c.list_my_ssh_keys())
        with pytest.raises(ServerError, match="admin"):
            c.get_users()
        assert c.logout()
