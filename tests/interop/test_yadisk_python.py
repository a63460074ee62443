"""The `yadisk` package (PyPI) against the emulator: its API base URL setting and its OAuth request classes'
base URL point at the emulator; nothing else is changed."""

import hashlib
import io
import os
import time

import pytest

import yadisk
import yadisk._api.auth as yauth
from conftest import CLIENT_ID, CLIENT_SECRET


@pytest.fixture(scope="module")
def ya(emulator):
    yadisk.settings.BASE_API_URL = f"{emulator}/cloud-api.yandex.net"
    yadisk.settings.BASE_OAUTH_API_URL = f"{emulator}/oauth.yandex.ru"
    for cls in (yauth.GetDeviceCodeRequest, yauth.GetTokenRequest, yauth.RefreshTokenRequest, yauth.RevokeTokenRequest):
        cls.base_url = f"{emulator}/oauth.yandex.ru"
    client = yadisk.Client(id=CLIENT_ID, secret=CLIENT_SECRET)
    code = client.get_device_code(device_id="pytest-device", device_name="pytest")
    assert code.verification_url.endswith("/oauth.yandex.ru/device") and code.user_code
    token = None
    for _ in range(10):
        try:
            token = client.get_token_from_device_code(code.device_code)
            break
        except yadisk.exceptions.AuthorizationPendingError:
            time.sleep(code.interval)
    assert token is not None, "approved by the auto-approving emulator"
    client.token = token.access_token
    assert client.check_token()
    refreshed = client.refresh_token(token.refresh_token)
    assert refreshed.refresh_token != token.refresh_token
    client.token = refreshed.access_token
    return client


def test_mkdir_upload_listdir_many_download(ya):
    ya.mkdir("/many")
    for i in range(130):
        ya.upload(io.BytesIO(f"file {i}".encode()), f"/many/f{i:03}.txt")
    names = [r.name for r in ya.listdir("/many", limit=50)]
    assert len(names) == 130 and len(set(names)) == 130, "listdir pages past 100 entries"
    buf = io.BytesIO()
    ya.download("/many/f129.txt", buf)
    assert buf.getvalue() == b"file 129"


def test_copy_move_remove_trash_restore(ya):
    data = os.urandom(50_000)
    ya.mkdir("/ops")
    ya.upload(io.BytesIO(data), "/ops/a.bin")
    ya.copy("/ops/a.bin", "/ops/b.bin", wait=True)
    ya.move("/ops/b.bin", "/ops/c.bin", wait=True)
    assert not ya.exists("/ops/b.bin") and ya.exists("/ops/c.bin")
    assert ya.get_meta("/ops/c.bin").md5 == hashlib.md5(data).hexdigest()
    ya.mkdir("/ops/sub")
    ya.upload(io.BytesIO(b"x"), "/ops/sub/x")
    ya.copy("/ops/sub", "/ops/sub2", wait=True)  # a folder: answered 202 and polled
    assert ya.exists("/ops/sub2/x")
    ya.remove("/ops/c.bin", wait=True)
    assert not ya.exists("/ops/c.bin")
    trashed = [r for r in ya.trash_listdir("/") if r.origin_path == "disk:/ops/c.bin"]
    assert len(trashed) == 1
    ya.restore_trash(trashed[0].path, wait=True)
    assert ya.exists("/ops/c.bin")


def test_publish(ya):
    ya.upload(io.BytesIO(b"public!"), "/pub.txt")
    ya.publish("/pub.txt")
    meta = ya.get_meta("/pub.txt")
    assert meta.public_key and meta.public_url
    assert ya.get_public_meta(meta.public_key).name == "pub.txt"
    buf = io.BytesIO()
    ya.download_public(meta.public_key, buf)
    assert buf.getvalue() == b"public!"
    ya.unpublish("/pub.txt")
    assert ya.get_meta("/pub.txt").public_key is None


def test_errors_are_yandex_shaped(ya):
    with pytest.raises(yadisk.exceptions.PathNotFoundError):
        ya.get_meta("/definitely/missing")
    with pytest.raises(yadisk.exceptions.ParentNotFoundError):
        ya.mkdir("/no/such/parent/dir")
    ya.mkdir("/twice")
    with pytest.raises(yadisk.exceptions.DirectoryExistsError):
        ya.mkdir("/twice")


def test_cli_and_yadisk_read_each_other(ya, cli_yandex, tmp_path):
    data = os.urandom(9 * 1024 * 1024 + 77)  # above one chunk: the CLI sends Content-Range parts
    src = tmp_path / "from-cli.bin"
    src.write_bytes(data)
    cli_yandex.run("put", str(src), "yd:")
    buf = io.BytesIO()
    ya.download("/from-cli.bin", buf)
    assert buf.getvalue() == data
    back = os.urandom(300_001)
    ya.upload(io.BytesIO(back), "/from-yadisk.bin")
    assert cli_yandex.run("cat", "yd:from-yadisk.bin").stdout == back
