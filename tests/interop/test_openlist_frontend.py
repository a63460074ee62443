"""OpenList's own web frontend (npm `@openlist-frontend/openlist-frontend` 4.2.6, the UI AList and
OpenList users know) against `cloudmux serve --demo --alist-listen … --alist-ui DIST`: one address hosts
the UI and AList's API. The build is installed from npm by ./scripts/test.sh into target/tools/openlist
(never into the repository). Headless Chromium signs in, browses /local and a page of a 2,000-file
folder, previews a text file, a Markdown file, an image, a video and a sound, makes and removes a folder, uploads (a small
file and a chunked one), renames, moves with the UI's folder dialog, shares with a password and an expiry and opens the
link in a fresh browser, changes the password on its profile page; it also browses the emulated Drive, Yandex Disk and Photos mounts, copies to
Drive (a task its Tasks page shows done), batch-renames (regex and find-and-replace), removes empty
folders and moves a tree's files into one folder, each through its own dialogs. Every AList answer
the page gets is recorded: none may fail but the share's password challenge. Screenshots go to
target/openlist-*.png."""

import contextlib
import datetime
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, cloudmux_bin
from test_web_chromium import chromium, thumbnail, wait

DIST = ROOT / "target" / "tools" / "openlist" / "package" / "dist"
PASSWORD = "cloudmux-demo"

# Every XMLHttpRequest to the API whose answer is not a success (HTTP, or AList's `code`), kept in the
# tab's session storage so it survives the app's navigations.
RECORDER = """
(() => {
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (m, u) { this.__m = m; this.__u = String(u); return open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function () {
    this.addEventListener("loadend", () => {
      if (!this.__u.includes("/api/")) return;
      let code;
      try {
        const b = this.responseType === "json" ? this.response : JSON.parse(this.responseText);
        code = b && b.code;
      } catch (_) {}
      if (this.status !== 200 || (code !== undefined && code !== 200)) {
        const l = JSON.parse(sessionStorage.getItem("failed-api") || "[]");
        l.push([this.__m, this.__u.replace(location.origin, ""), this.status, code]);
        sessionStorage.setItem("failed-api", JSON.stringify(l));
      }
    });
    return send.apply(this, arguments);
  };
})();
"""


@contextlib.contextmanager
def serve_with_frontend():
    """`serve --demo` with AList's API and the frontend on an address of their own: (that address, the
    main one, the demo's folder)."""
    assert (DIST / "index.html").exists(), f"{DIST} is missing: ./scripts/test.sh installs the frontend from npm"
    work = Path(tempfile.mkdtemp(prefix="cloudmux-openlist-"))
    proc = subprocess.Popen([cloudmux_bin(), "serve", "--demo", "--listen", "127.0.0.1:0", "--alist-listen", "127.0.0.1:0",
                             "--alist-ui", str(DIST)], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        main = ui = None
        for _ in range(12):
            line = proc.stdout.readline()
            m = re.search(r"cloudmux demo on (http://\S+?)/?$", line.strip())
            main = main or (m and m.group(1))
            m = re.search(r"AList frontend: (http://\S+?)/ ", line)
            if m:
                ui = m.group(1)
                break
        assert main and ui, "serve --demo did not print both addresses"
        yield ui, main, work
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def browser_for(tmp_path):
    d = chromium(tmp_path)
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
    return d


def failed(d):
    return json.loads(d.execute_script("return sessionStorage.getItem('failed-api') || '[]'"))


def shot(d, name):
    path = ROOT / "target" / f"openlist-{name}.png"
    path.parent.mkdir(exist_ok=True)
    d.save_screenshot(str(path))


def items(d):
    try:
        return [e.text.split("\n")[0] for e in d.find_elements(By.CSS_SELECTOR, "a.list-item")]
    except Exception:
        return []


def item(d, name):
    for e in d.find_elements(By.CSS_SELECTOR, "a.list-item"):
        if e.text.split("\n")[0] == name:
            return e
    return None


def menu(d, name, label):
    """The entry's right-click menu, then one of its items."""
    ActionChains(d).context_click(wait(d, lambda d: item(d, name))).perform()
    wait(d, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".solid-contextmenu__item")
                       if e.text.split("\n")[0] == label and e.is_displayed()])[0].click()


def dialog(d):
    return wait(d, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "[role=dialog]") if e.is_displayed()])[-1]


def press(d, label):
    """A button of the open dialog, by its words."""
    wait(d, lambda d: [b for b in dialog(d).find_elements(By.TAG_NAME, "button") if b.text.strip() == label and b.is_enabled()])[0].click()


def tool(d, tips):
    """A button of the frontend's side toolbar (opened first if it is folded)."""
    def find(d):
        b = d.find_elements(By.CSS_SELECTOR, f"svg[tips={tips}]")
        if b and b[0].is_displayed():
            return b[0]
        d.find_elements(By.CSS_SELECTOR, ".left-toolbar-box svg")[-1].click()
        return None
    wait(d, find).click()


def choose(d, *folders):
    """In the open folder dialog, each folder in turn (its tree opens one level a click)."""
    dlg = dialog(d)
    for name in folders:
        wait(d, lambda d: [e for e in dlg.find_elements(By.XPATH, f".//*[text()='{name}']") if e.is_displayed()])[0].click()


def go(d, ui, path, expect):
    d.get(ui + path)
    wait(d, lambda d: expect in items(d), 30)


def test_openlist_frontend_works_against_cloudmux(tmp_path):
    with serve_with_frontend() as (ui, main, work):
        local = work / "demo-data"
        many = local / "many"
        many.mkdir()
        for i in range(2000):
            (many / f"f{i:04}.txt").write_bytes(b"x")
        batch = local / "batch"
        for name in ["a1.txt", "a2.txt", "b.txt", "deep/x/y.txt"]:
            (batch / name).parent.mkdir(parents=True, exist_ok=True)
            (batch / name).write_text(name)
        (batch / "empty" / "inner").mkdir(parents=True)
        (local / "flat").mkdir()
        d = browser_for(tmp_path)
        try:
            # Sign in with the frontend's own form (it sends the password's hash).
            d.get(ui + "/@login")
            wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=password]"), 30)
            d.find_element(By.CSS_SELECTOR, "input[placeholder*='username']").send_keys("admin")
            d.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(PASSWORD, Keys.ENTER)
            wait(d, lambda d: "local" in items(d), 30)
            assert {"gdrive", "local", "photos", "yadisk"} <= set(items(d))
            shot(d, "home")
            go(d, ui, "/local", "README.txt")
            shot(d, "local")
            # A big folder comes a page at a time.
            go(d, ui, "/local/many", "f0000.txt")
            shown = items(d)
            assert 0 < len(shown) < 2000 and "f1999.txt" not in shown, len(shown)
            shot(d, "many")
            # Previews: text, then an image (through /p and /d).
            go(d, ui, "/local", "README.txt")
            item(d, "README.txt").click()
            wait(d, lambda d: "mounted at /local" in d.find_element(By.TAG_NAME, "body").text, 30)
            shot(d, "text")
            go(d, ui, "/local", "README.md")
            item(d, "README.md").click()
            wait(d, lambda d: d.find_elements(By.XPATH, "//h1[text()='The demo folder']"), 30)
            shot(d, "markdown")
            token = _login(main)
            _put(main, token, "/local/sunrise.jpg", thumbnail(main, token, "/photos/media/all/sunrise.png"))
            go(d, ui, "/local", "sunrise.jpg")
            item(d, "sunrise.jpg").click()
            wait(d, lambda d: d.execute_script(
                "return [...document.images].some((i) => i.src.includes('sunrise.jpg') && i.complete && i.naturalWidth > 0)"), 30)
            shot(d, "image")
            # Video and audio in its players (ArtPlayer, APlayer), streamed from /d and /p with ranges.
            import imageio_ffmpeg
            clip = tmp_path / "clip.webm"
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                            "testsrc=duration=8:size=320x240:rate=10", "-c:v", "libvpx", "-b:v", "200k", str(clip)],
                           check=True, timeout=120)
            _put(main, token, "/local/clip.webm", clip.read_bytes())
            _put(main, token, "/local/tone.wav", _wav())
            go(d, ui, "/local", "clip.webm")
            item(d, "clip.webm").click()
            wait(d, lambda d: d.execute_script(
                "const v = document.querySelector('video'); return !!v && v.readyState >= 1 && v.duration > 7"), 30)
            shot(d, "video")
            go(d, ui, "/local", "tone.wav")
            item(d, "tone.wav").click()
            # Its player keeps its <audio> out of the page: what it fetched says it played the file.
            wait(d, lambda d: d.execute_script(
                "return performance.getEntriesByType('resource').some((e) => e.initiatorType === 'audio'"
                " && /\\/[dp]\\/local\\/tone\\.wav\\?sign=/.test(e.name) && [200, 206].includes(e.responseStatus))"), 30)
            assert d.find_elements(By.CSS_SELECTOR, ".aplayer")
            shot(d, "audio")
            # A new folder from the toolbar, then removed from its menu.
            go(d, ui, "/local", "README.txt")
            tool(d, "mkdir")
            dialog(d).find_element(By.CSS_SELECTOR, "input[type=text]").send_keys("made by the ui")
            press(d, "OK")
            wait(d, lambda d: (local / "made by the ui").is_dir(), 30)
            wait(d, lambda d: "made by the ui" in items(d), 30)
            menu(d, "made by the ui", "Delete")
            press(d, "Confirm")
            wait(d, lambda d: not (local / "made by the ui").exists(), 30)
            # Uploads: a small file (one request) and a 9 MiB one (the chunked route).
            go(d, ui, "/local", "README.txt")
            small, big = tmp_path / "hello from openlist.txt", tmp_path / "big.bin"
            small.write_bytes(b"uploaded by OpenList's frontend\n")
            big.write_bytes(bytes(range(256)) * (9 * 4096))
            tool(d, "upload")
            dialog(d)
            files = [e for e in d.find_elements(By.CSS_SELECTOR, "input[type=file]") if not d.execute_script("return arguments[0].webkitdirectory", e)]
            files[0].send_keys(f"{small}\n{big}")
            wait(d, lambda d: (local / small.name).exists() and (local / "big.bin").exists()
                 and (local / "big.bin").stat().st_size == big.stat().st_size, 60)
            assert (local / "big.bin").read_bytes() == big.read_bytes()
            shot(d, "upload")
            d.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
            go(d, ui, "/local", small.name)
            # Rename through its dialog.
            menu(d, small.name, "Rename")
            box = dialog(d).find_element(By.CSS_SELECTOR, "input[type=text]")
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys("renamed.txt")
            press(d, "OK")
            wait(d, lambda d: (local / "renamed.txt").exists(), 30)
            # Move with its folder dialog: into /local/notes.
            go(d, ui, "/local", "renamed.txt")
            menu(d, "renamed.txt", "Move")
            choose(d, "local", "notes")
            shot(d, "move")
            press(d, "OK")
            wait(d, lambda d: (local / "notes" / "renamed.txt").exists(), 30)
            assert not (local / "renamed.txt").exists()
            # Copy with the same dialog: into /local/notes (within one remote; to another, below, it is a task).
            go(d, ui, "/local", "README.txt")
            menu(d, "README.txt", "Copy")
            choose(d, "local", "notes")
            press(d, "OK")
            wait(d, lambda d: (local / "notes" / "README.txt").exists(), 30)
            # Search (its Ctrl+K box), under the folder shown.
            go(d, ui, "/local", "README.txt")
            d.find_element(By.TAG_NAME, "body").send_keys(Keys.CONTROL, "k")
            box = wait(d, lambda d: [e for e in dialog(d).find_elements(By.CSS_SELECTOR, "input[type=text]") if e.is_displayed()])[0]
            box.send_keys("todo", Keys.ENTER)
            wait(d, lambda d: "/local/notes" in dialog(d).text and "todo.md" in dialog(d).text, 30)
            shot(d, "search")
            d.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
            # The emulated mounts browse like the local one; a Drive file previews.
            go(d, ui, "/yadisk", "Hello from Yandex Disk.txt")
            go(d, ui, "/photos", "album")
            go(d, ui, "/gdrive", "Welcome to cloudmux.txt")
            item(d, "Welcome to cloudmux.txt").click()
            wait(d, lambda d: "lives in the emulated Google Drive" in d.find_element(By.TAG_NAME, "body").text, 30)
            shot(d, "gdrive-text")
            # A copy to another remote through its dialog is a task, which its Tasks page shows done.
            go(d, ui, "/local", "README.txt")
            menu(d, "README.txt", "Copy")
            choose(d, "gdrive")
            press(d, "OK")
            wait(d, lambda d: _exists(main, token, "/gdrive/README.txt"), 60)
            d.get(ui + "/@manage/tasks/copy")
            wait(d, lambda d: "copy [/local/README.txt] to [/gdrive/README.txt]" in d.find_element(By.TAG_NAME, "body").text
                 and "SUCCEEDED" in d.find_element(By.TAG_NAME, "body").text, 30)
            shot(d, "tasks")
            go(d, ui, "/gdrive", "README.txt")
            # Batch rename with its dialog: a regular expression (previewed, then done), then find and replace.
            go(d, ui, "/local/batch", "a1.txt")
            tool(d, "batch_rename")
            dlg = dialog(d)
            dlg.find_element(By.ID, "modal-input1").send_keys(r"^a(\d)\.txt$")
            dlg.find_element(By.ID, "modal-input2").send_keys("note$1.txt")
            press(d, "OK")
            wait(d, lambda d: "note2.txt" in dialog(d).text)
            time.sleep(0.5)  # the preview's fade-in, for the screenshot
            shot(d, "batch-rename")
            press(d, "OK")
            wait(d, lambda d: (batch / "note1.txt").exists() and (batch / "note2.txt").exists(), 30)
            assert not (batch / "a1.txt").exists()
            wait(d, lambda d: "note1.txt" in items(d), 30)
            tool(d, "batch_rename")
            dlg = dialog(d)
            [r for r in dlg.find_elements(By.TAG_NAME, "label") if r.text.strip() == "Find and Replace"][0].click()
            dlg.find_element(By.ID, "modal-input1").send_keys("b.")
            dlg.find_element(By.ID, "modal-input2").send_keys("c.")
            press(d, "OK")
            wait(d, lambda d: "c.txt" in dialog(d).text)
            press(d, "OK")
            wait(d, lambda d: (batch / "c.txt").exists() and not (batch / "b.txt").exists(), 30)
            # Remove empty folders: the empty tree goes, the folder holding a file stays.
            tool(d, "remove_empty_directory")
            press(d, "Confirm")
            wait(d, lambda d: not (batch / "empty").exists(), 30)
            assert (batch / "deep" / "x" / "y.txt").exists()
            # Recursive move: every file below, flattened into /local/flat, chosen in its folder dialog.
            go(d, ui, "/local/batch", "deep")
            tool(d, "recursive_move")
            press(d, "Confirm")
            choose(d, "local", "flat")
            press(d, "OK")
            want = ["c.txt", "note1.txt", "note2.txt", "y.txt"]
            wait(d, lambda d: sorted(p.name for p in (local / "flat").iterdir()) == want, 30)
            assert [p.name for p in batch.rglob("*") if p.is_file()] == [], list(batch.rglob("*"))
            assert (local / "flat" / "y.txt").read_text() == "deep/x/y.txt"
            # Share the notes folder with a password.
            go(d, ui, "/local", "notes")
            menu(d, "notes", "Share")
            dlg = dialog(d)
            texts = [e for e in dlg.find_elements(By.CSS_SELECTOR, "input[type=text]") if not e.get_attribute("placeholder")]
            texts[0].send_keys("open sesame")
            # An expiry in its own shorthand (a day from now), which it sends as a date.
            [e for e in dlg.find_elements(By.CSS_SELECTOR, "input") if "yyyy" in (e.get_attribute("placeholder") or "")][0].send_keys("+1d")
            tomorrow = datetime.datetime.now() + datetime.timedelta(days=1)
            shot(d, "share")
            press(d, "Confirm")
            summary = wait(d, lambda d: [e.get_attribute("value") for e in dialog(d).find_elements(By.CSS_SELECTOR, "input, textarea")
                                         if "/@s/" in (e.get_attribute("value") or "")], 30)[0]
            shot(d, "share-made")
            assert '"notes"' in summary and "open sesame" in summary, summary
            link = re.search(r"(http://\S+/@s/[\w-]+)", summary).group(1)
            assert link.startswith(ui + "/@s/"), link
            assert failed(d) == [], failed(d)
            # Nothing went wrong in the console either: no errors, nothing fetched from outside.
            errors = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, errors
            # Its share list shows the link; its admin pages say where cloudmux is managed.
            d.get(ui + "/@manage/shares")
            wait(d, lambda d: link.rsplit("/", 1)[1] in d.find_element(By.TAG_NAME, "body").text, 30)
            row = [r.text for r in d.find_elements(By.CSS_SELECTOR, "tr") if link.rsplit("/", 1)[1] in r.text][0]
            assert f"{tomorrow.month}/{tomorrow.day}/{tomorrow.year}" in row, row
            shot(d, "shares")
            d.get(ui + "/@manage/users")
            wait(d, lambda d: "cloudmux's own admin page" in d.find_element(By.TAG_NAME, "body").text, 30)
            shot(d, "manage-users")
            assert [f[1] for f in failed(d)] == ["/api/admin/user/list"], failed(d)
            # Its profile page changes the password in cloudmux's users: it signs the page out, and the
            # new password is the one that signs in (through its form again).
            d.get(ui + "/@manage")
            wait(d, lambda d: d.find_elements(By.ID, "confirm-password"), 30)
            d.find_element(By.ID, "password").send_keys("a-new-admin-password")
            d.find_element(By.ID, "confirm-password").send_keys("a-new-admin-password")
            [b for b in d.find_elements(By.TAG_NAME, "button") if b.text == "Save"][0].click()
            wait(d, lambda d: "/@login" in d.current_url, 30)
            shot(d, "password-changed")
            d.find_element(By.CSS_SELECTOR, "input[placeholder*='username']").send_keys("admin")
            d.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys("a-new-admin-password", Keys.ENTER)
            # Back where it was (its profile page), signed in.
            wait(d, lambda d: "/@login" not in d.current_url and d.find_elements(By.ID, "confirm-password"), 30)
            go(d, ui, "/local", "README.txt")
        finally:
            d.quit()
        # The link in a browser that never signed in: the password, then the folder.
        fresh = browser_for(tmp_path)
        try:
            fresh.get(link)
            box = wait(fresh, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "input[type=password]") if e.is_displayed()], 30)[0]
            box.send_keys("open sesame", Keys.ENTER)
            wait(fresh, lambda d: "renamed.txt" in items(d), 30)
            shot(fresh, "shared")
            # Only the password challenge failed (the share asks for its code before it opens).
            assert [f[1] for f in failed(fresh)] == ["/api/fs/get"], failed(fresh)
        finally:
            fresh.quit()


def _wav():
    """One second of a quiet tone, as WAV."""
    import io
    import math
    import struct
    import wave
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(i / 8))) for i in range(8000)))
    return out.getvalue()


def _login(main):
    import urllib.request
    req = urllib.request.Request(main + "/api/auth/login", method="POST",
                                 data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["token"]


def _put(main, token, path, data):
    import urllib.parse
    import urllib.request
    req = urllib.request.Request(main + "/api/fs/upload?path=" + urllib.parse.quote(path, safe=""), method="PUT", data=data)
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        assert r.status == 201


def _exists(main, token, path):
    import urllib.error
    import urllib.parse
    import urllib.request
    req = urllib.request.Request(main + "/api/fs/stat?path=" + urllib.parse.quote(path, safe=""))
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status == 200
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise
