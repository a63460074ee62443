"""google-api-python-client built from the Photos Library discovery document the emulator serves, alongside the
cloudmux CLI: each reads the albums and media items the other created (one OAuth client, one app)."""

import os
import urllib.request

import pytest
from googleapiclient.errors import HttpError

from conftest import google_tokens, photos_service


def upload_bytes(emulator, token, data, name):
    req = urllib.request.Request(f"{emulator}/photoslibrary.googleapis.com/v1/uploads", data=data, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
        "X-Goog-Upload-Protocol": "raw", "X-Goog-Upload-Content-Type": "image/jpeg", "X-Goog-Upload-File-Name": name})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def test_python_creates_and_cli_reads(emulator, photos, cli_photos, tmp_path):
    token = photos._http.credentials.token
    album = photos.albums().create(body={"album": {"title": "From Python"}}).execute()
    data = os.urandom(40_000)
    up = upload_bytes(emulator, token, data, "py.jpg")
    res = photos.mediaItems().batchCreate(body={"albumId": album["id"], "newMediaItems": [
        {"simpleMediaItem": {"uploadToken": up, "fileName": "py.jpg"}},
        {"simpleMediaItem": {"uploadToken": "not-a-token", "fileName": "bad.jpg"}},
    ]}).execute()
    statuses = [r["status"] for r in res["newMediaItemResults"]]
    assert statuses[0]["message"] == "Success" and statuses[1].get("code", 0) != 0, "per-item status"
    assert "py.jpg" in cli_photos.run("ls", "ph:album/From Python").stdout.decode()
    out = tmp_path / "py.back"
    cli_photos.run("get", "ph:album/From Python/py.jpg", str(out))
    assert out.read_bytes() == data


def test_cli_creates_and_python_reads(emulator, photos, cli_photos, tmp_path):
    data = os.urandom(1_200_000)  # one raw upload (under the CLI's 8 MiB chunk size)
    src = tmp_path / "cli.jpg"
    src.write_bytes(data)
    cli_photos.run("gphotos", "upload", "ph", str(src), "--album", "From CLI")
    albums = photos.albums().list(pageSize=50).execute().get("albums", [])
    cli_album = [a for a in albums if a["title"] == "From CLI"]
    assert len(cli_album) == 1 and cli_album[0]["mediaItemsCount"] == "1"
    items = photos.mediaItems().search(body={"albumId": cli_album[0]["id"]}).execute()["mediaItems"]
    assert [i["filename"] for i in items] == ["cli.jpg"]
    got = photos.mediaItems().get(mediaItemId=items[0]["id"]).execute()
    with urllib.request.urlopen(got["baseUrl"] + "=d") as r:
        assert r.read() == data
    listed = photos.mediaItems().list(pageSize=100).execute()["mediaItems"]
    assert any(i["id"] == items[0]["id"] for i in listed)


def test_removed_scope_is_refused(emulator):
    drive_only = photos_service(emulator, google_tokens(emulator, "https://www.googleapis.com/auth/drive")["access_token"])
    with pytest.raises(HttpError) as e:
        drive_only.albums().list().execute()
    assert e.value.resp.status == 403
    assert b"insufficient authentication scopes" in e.value.content
