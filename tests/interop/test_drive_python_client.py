"""google-api-python-client (built from the discovery document) against the emulator, and against files the
cloudmux CLI wrote."""

import hashlib
import io
import os

import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseDownload, MediaIoBaseUpload


def md5(b):
    return hashlib.md5(b).hexdigest()


def upload(drive, name, data, resumable, chunksize=256 * 1024, parents=None):
    media = MediaIoBaseUpload(io.BytesIO(data), mimetype="application/octet-stream", resumable=resumable,
                              chunksize=chunksize)
    body = {"name": name}
    if parents:
        body["parents"] = parents
    req = drive.files().create(body=body, media_body=media, fields="id,name,size,md5Checksum")
    if not resumable:
        return req.execute()
    resp = None
    chunks = 0
    while resp is None:
        _, resp = req.next_chunk()
        chunks += 1
    assert chunks > 1, "the upload went in several chunks"
    return resp


def test_multipart_create_and_get(drive):
    data = os.urandom(70_000)
    f = upload(drive, "py-multipart.bin", data, resumable=False)
    assert f["name"] == "py-multipart.bin"
    assert int(f["size"]) == len(data)
    assert f["md5Checksum"] == md5(data)
    got = drive.files().get(fileId=f["id"], fields="id,name,mimeType,sha256Checksum").execute()
    assert set(got) == {"id", "name", "mimeType", "sha256Checksum"}
    assert got["sha256Checksum"] == hashlib.sha256(data).hexdigest()


def test_resumable_create_small_chunks(drive):
    data = os.urandom(1024 * 1024 + 4321)
    f = upload(drive, "py-resumable.bin", data, resumable=True, chunksize=256 * 1024)
    assert f["md5Checksum"] == md5(data)
    assert drive.files().get_media(fileId=f["id"]).execute() == data


def test_list_with_q_and_fields(drive):
    folder = drive.files().create(body={"name": "py folder 'q'", "mimeType": "application/vnd.google-apps.folder"},
                                  fields="id").execute()
    for n in ("a.txt", "b.txt", "it's.txt"):
        upload(drive, n, n.encode(), resumable=False, parents=[folder["id"]])
    q = f"'{folder['id']}' in parents and trashed = false and name != 'b.txt'"
    res = drive.files().list(q=q, fields="nextPageToken,files(id,name,size)", orderBy="name", pageSize=1).execute()
    names = [f["name"] for f in res["files"]]
    while "nextPageToken" in res:
        res = drive.files().list(q=q, fields="nextPageToken,files(id,name,size)", orderBy="name", pageSize=1,
                                 pageToken=res["nextPageToken"]).execute()
        names += [f["name"] for f in res["files"]]
    assert names == ["a.txt", "it's.txt"]
    one = drive.files().list(q="name = 'it\\'s.txt'", fields="files(id,name)").execute()["files"]
    assert [f["name"] for f in one] == ["it's.txt"]
    assert set(one[0]) == {"id", "name"}
    with pytest.raises(HttpError) as e:
        drive.files().list(q="name = ").execute()
    assert e.value.resp.status == 400


def test_get_media_with_range_and_chunked_download(drive):
    data = os.urandom(300_000)
    f = upload(drive, "py-range.bin", data, resumable=False)
    req = drive.files().get_media(fileId=f["id"])
    req.headers["Range"] = "bytes=1000-1999"
    assert req.execute() == data[1000:2000]
    buf = io.BytesIO()
    dl = MediaIoBaseDownload(buf, drive.files().get_media(fileId=f["id"]), chunksize=64 * 1024)
    done = False
    while not done:
        _, done = dl.next_chunk()
    assert buf.getvalue() == data


def test_update_copy_delete(drive):
    f = upload(drive, "py-update.txt", b"version 1", resumable=False)
    media = MediaIoBaseUpload(io.BytesIO(b"version 2!"), mimetype="text/plain")
    u = drive.files().update(fileId=f["id"], body={"name": "py-updated.txt"}, media_body=media,
                             fields="id,name,size,md5Checksum").execute()
    assert u["name"] == "py-updated.txt" and u["md5Checksum"] == md5(b"version 2!")
    c = drive.files().copy(fileId=f["id"], body={"name": "py-copy.txt"}, fields="id,name").execute()
    assert drive.files().get_media(fileId=c["id"]).execute() == b"version 2!"
    drive.files().delete(fileId=f["id"]).execute()
    with pytest.raises(HttpError) as e:
        drive.files().get(fileId=f["id"]).execute()
    assert e.value.resp.status == 404
    assert e.value.error_details[0]["reason"] == "notFound"


def test_permissions_and_about(drive):
    f = upload(drive, "py-shared.txt", b"shared", resumable=False)
    p = drive.permissions().create(fileId=f["id"], body={"type": "anyone", "role": "reader"}).execute()
    assert p["type"] == "anyone" and p["role"] == "reader"
    perms = drive.permissions().list(fileId=f["id"]).execute()["permissions"]
    assert {x["role"] for x in perms} == {"owner", "reader"}
    about = drive.about().get(fields="user,storageQuota").execute()
    assert about["user"]["emailAddress"] == "demo.user@cloudmux.test"
    assert int(about["storageQuota"]["usage"]) > 0
    with pytest.raises(HttpError) as e:
        drive.about().get().execute()
    assert e.value.resp.status == 400, "about.get requires fields"


def test_python_reads_what_the_cli_wrote_and_back(drive, cli, tmp_path):
    data = os.urandom(6 * 1024 * 1024 + 99)  # large enough for the CLI's resumable path
    src = tmp_path / "from-cli.bin"
    src.write_bytes(data)
    cli.run("put", str(src), "gd:")
    found = drive.files().list(q="name = 'from-cli.bin' and trashed = false", fields="files(id,md5Checksum)").execute()["files"]
    assert len(found) == 1
    assert found[0]["md5Checksum"] == md5(data)
    assert drive.files().get_media(fileId=found[0]["id"]).execute() == data

    back = os.urandom(600_001)
    upload(drive, "from-python.bin", back, resumable=True, chunksize=256 * 1024)
    out = cli.run("cat", "gd:from-python.bin").stdout
    assert out == back
    stat = cli.run("stat", "gd:from-python.bin", "--json").stdout
    assert md5(back).encode() in stat
