"""Fixtures: a running `cloudmux emulate`, OAuth tokens obtained through its consent flow, a signed-in CLI."""

import contextlib
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "cloudmux-demo.apps.googleusercontent.com"
CLIENT_SECRET = "cloudmux-demo-secret"


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout=30):
    """Whether `check()` came true within `timeout` seconds (asked every 0.2 s)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def cloudmux_bin():
    return os.environ.get("CLOUDMUX_BIN", str(ROOT / "target" / "debug" / "cloudmux"))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(scope="session")
def emulator():
    proc = subprocess.Popen(
        [cloudmux_bin(), "emulate", "--listen", "127.0.0.1:0", "--auto-approve", "--yandex-poll-interval", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    first = proc.stdout.readline()
    m = re.match(r"listening on (http://\S+)", first)
    assert m, f"first line of emulate: {first!r}"
    yield m.group(1)
    proc.terminate()
    proc.wait(timeout=10)


def google_tokens(emulator, scope):
    """Runs the authorization-code flow against the emulator like a desktop app would."""
    query = urllib.parse.urlencode({
        "client_id": CLIENT_ID, "redirect_uri": "http://127.0.0.1:9/", "response_type": "code",
        "scope": scope, "access_type": "offline", "prompt": "consent", "state": "s1",
    })
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{emulator}/accounts.google.com/o/oauth2/v2/auth?{query}")
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as e:
        assert e.code in (302, 303), e.code
        location = e.headers["Location"]
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
    assert params["state"] == "s1"
    body = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": "http://127.0.0.1:9/",
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }).encode()
    with urllib.request.urlopen(f"{emulator}/oauth2.googleapis.com/token", data=body) as r:
        return json.load(r)


@pytest.fixture(scope="session")
def tokens(emulator):
    return google_tokens(emulator, "https://www.googleapis.com/auth/drive")


@pytest.fixture(scope="session")
def drive(emulator, tokens):
    """google-api-python-client built from the Drive v3 discovery document it ships (pinned in
    requirements.txt), its rootUrl pointed at the emulator."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    doc = json.loads(get_static_doc("drive", "v3"))
    # The discovery document's rootUrl is the API endpoint; uploads go to rootUrl + "upload/" + servicePath.
    doc["rootUrl"] = f"{emulator}/www.googleapis.com/"
    creds = Credentials(
        token=tokens["access_token"], refresh_token=tokens["refresh_token"],
        token_uri=f"{emulator}/oauth2.googleapis.com/token", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        scopes=["https://www.googleapis.com/auth/drive"],
    )
    return build_from_document(doc, credentials=creds)


class Cli:
    def __init__(self, config):
        self.config = config

    def run(self, *args, check=True, input_bytes=None):
        env = dict(os.environ, CLOUDMUX_CONFIG=str(self.config))
        p = subprocess.run([cloudmux_bin(), *args], env=env, capture_output=True, input=input_bytes, timeout=120)
        if check:
            assert p.returncode == 0, f"cloudmux {args}: {p.stderr.decode()}"
        return p


@pytest.fixture(scope="session")
def cli(emulator):
    """The cloudmux CLI with remote `gd` signed in through `auth login --no-browser`."""
    d = tempfile.mkdtemp()
    c = Cli(Path(d) / "config.toml")
    c.run("remote", "add", "gd", "--type", "gdrive", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
          "--endpoint", emulator)
    env = dict(os.environ, CLOUDMUX_CONFIG=str(c.config))
    login = subprocess.Popen([cloudmux_bin(), "auth", "login", "gd", "--no-browser"], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = login.stdout.readline().strip()
    assert url.startswith(emulator), url
    urllib.request.urlopen(url).read()  # follows the redirect to the CLI's loopback listener
    assert login.wait(timeout=30) == 0, login.stderr.read()
    return c


@pytest.fixture(scope="session")
def cli_yandex(cli, emulator):
    """The same CLI config with Yandex remote `yd`, signed in through the device flow."""
    cli.run("remote", "add", "yd", "--type", "yadisk", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
            "--endpoint", emulator)
    cli.run("auth", "login", "yd")
    return cli


PHOTOS_SCOPES = " ".join(f"https://www.googleapis.com/auth/{s}" for s in (
    "photoslibrary.appendonly", "photoslibrary.readonly.appcreateddata", "photoslibrary.edit.appcreateddata"))


def photos_service(emulator, token):
    """google-api-python-client built from the discovery document the emulator serves, as Google serves
    its own at $discovery/rest (client libraries no longer ship one for Photos Library)."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build_from_document

    with urllib.request.urlopen(f"{emulator}/photoslibrary.googleapis.com/$discovery/rest?version=v1") as r:
        doc = json.load(r)
    assert doc["rootUrl"] == f"{emulator}/photoslibrary.googleapis.com/", doc["rootUrl"]
    return build_from_document(doc, credentials=Credentials(token=token))


@pytest.fixture(scope="session")
def photos(emulator):
    return photos_service(emulator, google_tokens(emulator, PHOTOS_SCOPES)["access_token"])


@pytest.fixture(scope="session")
def cli_photos(cli, emulator):
    """The same CLI config with a Google Photos remote `ph`, signed in through `auth login --no-browser`."""
    cli.run("remote", "add", "ph", "--type", "gphotos", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
            "--endpoint", emulator)
    env = dict(os.environ, CLOUDMUX_CONFIG=str(cli.config))
    login = subprocess.Popen([cloudmux_bin(), "auth", "login", "ph", "--no-browser"], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    urllib.request.urlopen(login.stdout.readline().strip()).read()
    assert login.wait(timeout=30) == 0, login.stderr.read()
    return cli


@contextlib.contextmanager
def demo(*extra):
    """`cloudmux serve --demo` in an empty folder, with `extra` arguments: (its URL, the folder, its
    emulator's URL)."""
    import shutil
    work = Path(tempfile.mkdtemp(prefix="cloudmux-demo-"))
    proc = subprocess.Popen([cloudmux_bin(), "serve", "--demo", "--listen", "127.0.0.1:0", *extra], cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={k: v for k, v in os.environ.items() if k != "CLOUDMUX_CONFIG"})
    try:
        first = proc.stdout.readline()
        m = re.match(r"cloudmux demo on (http://\S+?)/?$", first.strip())
        assert m, f"first line of serve --demo: {first!r}"
        rest = "".join(proc.stdout.readline() for _ in range(5))
        emu = re.search(r"emulated, on (http://[^)\s]+)", rest)
        assert emu, rest
        yield m.group(1), work, emu.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture()
def demo_server():
    """`cloudmux serve --demo` in an empty folder: (its URL, the folder, its emulator's URL)."""
    with demo() as d:
        yield d
