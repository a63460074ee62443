"""AList's API as a third-party client speaks it: the `alist-sdk` package from PyPI (httpx + pydantic
models of AList's answers) against `cloudmux serve --demo` at http://HOST/alist — login, list with
paging, get, mkdir, upload (raw and form), rename, copy, move, remove, search and a raw download with
Range — then the envelope and the errors at the HTTP level, as AList answers them."""

import time

import httpx
import pytest
from alist_sdk import Client
from alist_sdk.err import NotLogin

from conftest import demo, wait_for

PASSWORD = "cloudmux-demo"


def raw(base, method, path, token=None, body=None, headers=None):
    """An HTTP call without the SDK: (status, JSON body)."""
    h = {"Authorization": token} if token else {}
    h.update(headers or {})
    r = httpx.request(method, base + path, json=body, headers=h, timeout=30)
    return r.status_code, r.json()


def test_alist_sdk_drives_the_alist_door(tmp_path):
    with demo("--alist-sign-ttl", "3") as (base, work, _):
        door = base + "/alist"
        data = work / "demo-data"
        c = Client(door, username="admin", password=PASSWORD)
        assert c.login_username == "admin"

        # list with paging (per_page 0: everything), as AList's models have it.
        everything = c.list_files("/local", per_page=0)
        assert everything.code == 200, everything
        names = [i.name for i in everything.data.content]
        assert {"README.txt", "README.md", "notes"} <= set(names)
        assert everything.data.provider == "Local" and everything.data.write
        first = c.list_files("/local", page=1, per_page=2)
        second = c.list_files("/local", page=2, per_page=2)
        assert first.data.total == second.data.total == len(names)
        assert [i.name for i in first.data.content + second.data.content] == names[:4]
        assert next(i for i in everything.data.content if i.name == "notes").type == 1

        # mkdir, raw upload (with a Cyrillic name), form upload, get.
        assert c.mkdir("/local/from-sdk").code == 200
        assert (data / "from-sdk").is_dir()
        body = b"sent by alist-sdk\n" * 5000
        r = c.upload_file_put(body, "/local/from-sdk/файл.txt")
        assert r.code == 200, r
        assert (data / "from-sdk" / "файл.txt").read_bytes() == body
        src = tmp_path / "form.bin"
        src.write_bytes(bytes(range(256)) * 1000)
        with src.open("rb") as f:
            r = c.upload_file_form_data(f, "/local/from-sdk/form.bin")
        assert r.code == 200, r
        assert (data / "from-sdk" / "form.bin").read_bytes() == src.read_bytes()
        item = c.get_item_info("/local/from-sdk/файл.txt")
        assert item.code == 200 and item.data.size == len(body) and item.data.type == 4

        # The raw download: a link without the token that serves ranges (a player seeking).
        url = item.data.raw_url
        assert url.startswith(door + "/d/") and "sign=" in url and c.get_token() not in url
        part = httpx.get(url, headers={"Range": "bytes=5-11"})
        assert part.status_code == 206 and part.content == body[5:12]
        assert httpx.get(url.replace("/alist/d/", "/alist/p/")).content == body

        # rename, move within a mount, copy to another mount (a background task), remove.
        assert c.rename("renamed.txt", "/local/from-sdk/файл.txt").code == 200
        assert (data / "from-sdk" / "renamed.txt").exists()
        assert c.mkdir("/local/from-sdk/sub").code == 200
        assert c.move("/local/from-sdk", "/local/from-sdk/sub", ["form.bin"]).code == 200
        assert (data / "from-sdk" / "sub" / "form.bin").exists()
        r = c.copy("/local/from-sdk", "/gdrive", ["renamed.txt"])
        assert r.code == 200 and "task" in r.data, r
        assert wait_for(lambda: "renamed.txt" in {i.name for i in (c.list_files("/gdrive", refresh=True).data.content or [])})
        copied = c.get_item_info("/gdrive/renamed.txt")
        assert httpx.get(copied.data.raw_url).content == body
        assert c.remove("/local/from-sdk", ["renamed.txt", "sub"]).code == 200
        assert not (data / "from-sdk" / "renamed.txt").exists() and not (data / "from-sdk" / "sub").exists()

        # search.
        found = c.search("/local", "todo")
        assert found.code == 200 and [(i.parent, i.name) for i in found.data.content] == [("/local/notes", "todo.md")]

        # The same house: a user whose base is /local/notes sees only that, by every field.
        token = c.get_token()
        r = httpx.post(base + "/api/admin/users", headers={"Authorization": "Bearer " + token},
                       json={"name": "nina", "password": "nina-password", "base_path": "/local/notes",
                             "can_write": False, "is_admin": False})
        assert r.status_code == 201, r.text
        nina = Client(door, username="nina", password="nina-password")
        assert [i.name for i in nina.list_files("/").data.content] == ["todo.md"]
        # A path out of the base answers 403, as AList answers a relative path.
        for p in ["/../README.txt", "../README.txt", "/..\\README.txt", "/notes/../../README.txt"]:
            r = nina.get_item_info(p)
            assert r.code == 403, (p, r)
        assert nina.get_item_info("/%2e%2e/README.txt").code == 404, "a name, not a way out"
        assert nina.mkdir("/x").code == 403, "a reader writes nothing"
        assert nina.remove("/", ["todo.md"]).code == 403
        assert (data / "notes" / "todo.md").exists()
        for n in ["../README.txt", "..", "a/b"]:
            assert nina.remove("/", [n]).code in (400, 403), n
            assert c.remove("/local/notes", [n]).code == 400, n
        assert (data / "README.txt").exists()

        # The envelope and the errors as AList answers them: HTTP 200, the status in code.
        status, r = raw(door, "POST", "/api/auth/login", body={"username": "admin", "password": "wrong"})
        assert (status, r["code"], r["message"]) == (200, 400, "password is incorrect")
        with pytest.raises(NotLogin):
            Client(door, username="admin", password="wrong")
        status, r = raw(door, "POST", "/api/fs/list", body={"path": "/"})
        assert (status, r["code"]) == (200, 401) and "login" in r["message"]
        status, r = raw(door, "POST", "/api/fs/list", "not-a-token", {"path": "/"})
        assert (status, r["code"]) == (200, 401)
        status, r = raw(door, "POST", "/api/fs/mkdir", nina.get_token(), {"path": "/../../gdrive/x"})
        assert r["code"] in (400, 403)
        # A sign past its expiry (this server's links last 3 s): refused, 401 in code.
        time.sleep(3.5)
        r = httpx.get(url)
        assert r.status_code == 200 and r.json()["code"] == 401 and "expired" in r.json()["message"]
        # A sign made for one path does not open another.
        sign = url.split("sign=")[1]
        r = httpx.get(door + "/d/local/README.txt?sign=" + sign)
        assert r.json()["code"] == 401
