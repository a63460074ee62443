"""The web page in headless Chromium (Debian's chromium and chromium-driver, driven by selenium) against
`cloudmux serve --demo`: every test asserts what a user would see or get, and saves screenshots to
target/web-*.png (looked at by hand when the page changes)."""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT

NAME = '<img id="injected" src=x onerror="document.title=1"> & "quotes".txt'
PASSWORD = "cloudmux-demo"


def chromium(tmp_path, width=1400, height=900, lang="en", extra=()):
    chromedriver = shutil.which("chromedriver")
    assert chromedriver, "chromedriver is missing: ./scripts/test.sh installs chromium and chromium-driver"
    opts = webdriver.ChromeOptions()
    # The profile in the test's own folder (pytest removes old ones), not left behind in /tmp.
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
              f"--lang={lang}", "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}", *extra]:
        opts.add_argument(a)
    downloads = tmp_path / f"downloads-{time.monotonic_ns()}"
    downloads.mkdir()
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False,
                                           "intl.accept_languages": lang})
    d = webdriver.Chrome(service=Service(chromedriver), options=opts)
    d.downloads = downloads
    return d


@pytest.fixture()
def browser(tmp_path):
    d = chromium(tmp_path)
    yield d
    d.quit()


def shot(driver, name):
    path = ROOT / "target" / f"web-{name}.png"
    path.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 1000


def wait(driver, what, timeout=20):
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(what)


def entry(driver, name):
    """The listing entry of `name` (None while it is absent or being redrawn)."""
    try:
        for r in driver.find_elements(By.CSS_SELECTOR, "#entries li.entry"):
            if r.get_attribute("data-name") == name:
                return r
    except StaleElementReferenceException:
        pass
    return None


def names(driver):
    return {r.get_attribute("data-name") for r in driver.find_elements(By.CSS_SELECTOR, "#entries li.entry[data-name]")}


def actions(driver, name):
    """The labels of the actions an entry's menu offers."""
    r = entry(driver, name)
    return [b.get_attribute("textContent") for b in r.find_elements(By.CSS_SELECTOR, ".menu-items button")]


def act(driver, name, label):
    r = entry(driver, name)
    r.find_element(By.CSS_SELECTOR, "details.menu summary").click()
    r.find_element(By.XPATH, f".//div[@class='menu-items']/button[text()={json.dumps(label)}]").click()


def pick_folder(driver, steps, shot_name=None):
    """In the folder picker: follows `steps` (a crumb's label, or a folder's name in the list), then
    presses the main button."""
    picker = wait(driver, EC.visibility_of_element_located((By.ID, "picker")))
    for s in steps:
        def click(d):
            for b in d.find_elements(By.CSS_SELECTOR, "#picker-crumbs button, #picker-list button.folder"):
                if b.text.strip() == s and b.is_enabled():
                    b.click()
                    return True
            return False
        wait(driver, click)
        if s != "/":
            wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#picker-crumbs button[aria-current]").text == s)
    wait(driver, lambda d: d.find_element(By.ID, "picker-ok").is_enabled())
    if shot_name:
        shot(driver, shot_name)
    driver.find_element(By.ID, "picker-ok").click()
    wait(driver, lambda d: not picker.is_displayed())


def sign_in(driver, base, user="admin", password=PASSWORD):
    driver.get(base + "/")
    wait(driver, EC.visibility_of_element_located((By.ID, "login-form")))
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait(driver, lambda d: d.find_element(By.ID, "files-view").is_displayed())


def go(driver, base, path, expect):
    driver.get(base + "/#" + urllib.parse.quote(path, safe=""))
    wait(driver, lambda d: entry(d, expect) is not None)


def api(base, method, path, token=None, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def put(base, token, path, data):
    """Uploads through the API (the server's listings see it at once, unlike a file written beside it)."""
    req = urllib.request.Request(base + "/api/fs/upload?path=" + urllib.parse.quote(path, safe=""), method="PUT", data=data)
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        assert r.status == 201


def pdf(text):
    """A one-page PDF showing `text`."""
    stream = b"BT /F1 24 Tf 40 100 Td (%s) Tj ET" % text.encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i + 1, o)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


def admin_token(base):
    status, r = api(base, "POST", "/api/auth/login", body={"username": "admin", "password": PASSWORD})
    assert status == 200, r
    return r["token"]


def fits(driver):
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_browse_upload_download_delete_and_no_actions_on_mount_points(demo_server, browser, tmp_path):
    base, work, emulator = demo_server
    sign_in(browser, base)
    wait(browser, lambda d: names(d) >= {"gdrive", "local", "photos", "yadisk"})
    for mount in ["gdrive", "local", "photos", "yadisk"]:
        offered = actions(browser, mount)
        assert not {"Rename", "Move", "Delete"} & set(offered), (mount, offered)
    assert not browser.find_element(By.ID, "upload-label").is_displayed(), "no upload into the folder of mount points"

    go(browser, base, "/local", "README.txt")
    assert "local" in browser.find_element(By.ID, "crumbs").text
    # The folder's README.md is rendered under the listing.
    readme = wait(browser, lambda d: d.find_element(By.ID, "readme") if d.find_element(By.ID, "readme").is_displayed() else None)
    assert readme.find_element(By.TAG_NAME, "h1").text == "The demo folder"
    assert readme.find_element(By.TAG_NAME, "strong").text == "/local"

    src = tmp_path / NAME
    src.write_bytes(b"uploaded from Chromium\n" * 1000)
    browser.find_element(By.ID, "upload-input").send_keys(str(src))
    wait(browser, lambda d: entry(d, NAME) is not None)
    # The upload queue (opened by the upload) closes itself once the upload is done.
    wait(browser, lambda d: not d.find_element(By.ID, "tasks-panel").is_displayed())
    r = entry(browser, NAME)
    assert NAME in r.text, "the name is shown as text"
    assert not browser.find_elements(By.ID, "injected"), "the name did not become HTML"
    assert browser.title == "cloudmux", "no script ran"
    assert (work / "demo-data" / NAME).read_bytes() == src.read_bytes()
    assert {"Download", "Rename", "Move", "Share", "Delete"} <= set(actions(browser, NAME))

    act(browser, NAME, "Download")
    done = []
    deadline = time.time() + 20
    while time.time() < deadline and not done:
        done = [p for p in browser.downloads.iterdir() if not p.name.endswith(".crdownload")]
        time.sleep(0.2)
    assert len(done) == 1, list(browser.downloads.iterdir())
    assert done[0].read_bytes() == src.read_bytes()
    assert "quotes" in done[0].name

    # The text preview shows the file's words as text.
    entry(browser, "README.txt").find_element(By.CSS_SELECTOR, "a.name").click()
    pre = wait(browser, EC.visibility_of_element_located((By.ID, "viewer-text")))
    assert "mounted at /local" in pre.text
    browser.find_element(By.ID, "viewer-close").click()

    # Markdown with raw HTML and a javascript: link: rendered, the HTML as text, the link dropped.
    token = admin_token(base)
    put(base, token, "/local/evil.md",
        b"# Title\n\n<script>document.title='pwned'</script>\n\n<img src=x onerror=\"document.title='pwned'\">\n\n"
        b"[click](javascript:document.title='pwned')\n")
    browser.refresh()
    wait(browser, lambda d: entry(d, "evil.md") is not None)
    entry(browser, "evil.md").find_element(By.CSS_SELECTOR, "a.name").click()
    article = wait(browser, EC.visibility_of_element_located((By.CSS_SELECTOR, "#viewer-body article.markdown")))
    assert article.find_element(By.TAG_NAME, "h1").text == "Title"
    assert "<script>" in article.text
    assert not article.find_elements(By.TAG_NAME, "script") and not article.find_elements(By.TAG_NAME, "img")
    hrefs = [a.get_attribute("href") or "" for a in article.find_elements(By.TAG_NAME, "a")]
    assert hrefs and not any("javascript" in h for h in hrefs), hrefs
    assert browser.title == "cloudmux"
    browser.find_element(By.ID, "viewer-close").click()

    # Sorting by size, largest first: the uploaded 23 KB file comes first among the files.
    browser.find_element(By.CSS_SELECTOR, "#sort option[value=size]").click()
    browser.find_element(By.ID, "order").click()
    wait(browser, lambda d: [e.get_attribute("data-name") for e in d.find_elements(By.CSS_SELECTOR, "#entries li.entry.text, #entries li.entry.other")][:1] == [NAME])

    # Search finds a file in a subfolder ("/" jumps to the box).
    browser.find_element(By.TAG_NAME, "body").send_keys("/")
    box = browser.find_element(By.ID, "search-input")
    assert browser.switch_to.active_element == box
    box.send_keys("todo", Keys.ENTER)
    wait(browser, lambda d: entry(d, "todo.md") is not None)
    assert "todo" in browser.find_element(By.ID, "status").text
    shot(browser, "search")

    browser.find_element(By.CSS_SELECTOR, "#crumbs a[aria-current]").click()
    wait(browser, lambda d: entry(d, NAME) is not None)
    shot(browser, "local")
    act(browser, NAME, "Delete")
    # The page's own question, naming the file; the main button deletes.
    ask = wait(browser, EC.visibility_of_element_located((By.ID, "ask")))
    assert NAME in ask.find_element(By.ID, "ask-message").text
    assert not browser.find_element(By.ID, "ask-field").is_displayed()
    assert browser.switch_to.active_element.get_attribute("id") == "ask-cancel", "a deletion starts on Cancel"
    browser.find_element(By.ID, "ask-ok").click()
    wait(browser, lambda d: entry(d, NAME) is None)
    assert not (work / "demo-data" / NAME).exists()

    # Bulk: two files selected and moved to another remote: a background task shown in the task panel.
    for n in ["a.txt", "b.txt"]:
        put(base, token, "/local/" + n, n.encode() * 100)
    browser.refresh()
    wait(browser, lambda d: entry(d, "b.txt") is not None)
    for n in ["a.txt", "b.txt"]:
        entry(browser, n).find_element(By.CSS_SELECTOR, "input.pick").click()
    assert "2" in browser.find_element(By.ID, "selection-count").text
    browser.find_element(By.ID, "bulk-move").click()
    pick_folder(browser, ["/", "gdrive"], shot_name="move")
    wait(browser, lambda d: d.find_element(By.ID, "tasks-panel").is_displayed())
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tasks li.task.done")) == 2, 40)
    assert "→ /gdrive/a.txt" in browser.find_element(By.ID, "tasks").text
    wait(browser, lambda d: not (work / "demo-data" / "a.txt").exists())
    shot(browser, "tasks")
    browser.find_element(By.ID, "tasks-close").click()

    # An upload cancelled half-way (the browser's upload slowed to 256 KB/s) leaves nothing behind.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024})
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (8 << 20))
    before = sorted(p.name for p in (work / "demo-data").iterdir())
    browser.find_element(By.ID, "upload-input").send_keys(str(big))
    line = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#uploads li[data-name='big.bin']"))
    wait(browser, lambda d: float(line.find_element(By.TAG_NAME, "progress").get_attribute("value")) > 5)
    line.find_element(By.TAG_NAME, "button").click()
    wait(browser, lambda d: "cancelled" in line.text)
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    time.sleep(1)
    assert sorted(p.name for p in (work / "demo-data").iterdir()) == before, "nothing half-written"

    # Admin: add a Yandex Disk remote and sign it in from the page (device code shown; the emulator
    # approves it and the server polls), then mount it.
    browser.get(base + "/#admin")
    wait(browser, EC.visibility_of_element_located((By.ID, "remote-form")))
    form = browser.find_element(By.ID, "remote-form")
    form.find_element(By.NAME, "name").send_keys("yd2")
    form.find_element(By.CSS_SELECTOR, "select[name=kind] option[value=yadisk]").click()
    form.find_element(By.NAME, "client_id").send_keys("cloudmux-demo.apps.googleusercontent.com")
    form.find_element(By.NAME, "client_secret").send_keys("cloudmux-demo-secret")
    form.find_element(By.NAME, "endpoint").send_keys(emulator)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    sign_in_button = (By.XPATH, "//table[@id='remotes']//tr[@data-name='yd2']//button[text()='Sign in']")
    wait(browser, EC.element_to_be_clickable(sign_in_button)).click()
    wait(browser, EC.visibility_of_element_located((By.ID, "user-code")))
    wait(browser, lambda d: "yd2 is signed in" in d.find_element(By.ID, "signin-status").text, 40)
    mount = browser.find_element(By.ID, "mount-form")
    mount.find_element(By.NAME, "path").send_keys("/yd2")
    mount.find_element(By.CSS_SELECTOR, "select[name=remote] option[value=yd2]").click()
    mount.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#mounts tr[data-path='/yd2']"))
    shot(browser, "admin")
    go(browser, base, "/yd2", "Hello from Yandex Disk.txt")


def test_gallery_lightbox_video_and_phone_width(demo_server, browser, tmp_path):
    base, work, _ = demo_server
    sign_in(browser, base)
    # Google Photos opens as a grid, and the server's thumbnails load.
    go(browser, base, "/photos/media/all", "sunrise.png")
    assert "grid" in browser.find_element(By.ID, "entries").get_attribute("class")
    wait(browser, lambda d: d.execute_script(
        "const i = [...document.querySelectorAll('#entries img.thumb')];"
        "return i.length === 2 && i.every((x) => x.complete && x.naturalWidth > 0);"))
    shot(browser, "gallery")

    # The lightbox opens on an image and moves to the next one (button, then arrow key).
    entry(browser, "sea.png").find_element(By.CSS_SELECTOR, "a.name").click()
    wait(browser, lambda d: d.execute_script("const i = document.getElementById('viewer-img'); return !!i && i.complete && i.naturalWidth > 0"))
    assert browser.find_element(By.ID, "viewer-name").text == "sea.png"
    browser.find_element(By.ID, "viewer-next").click()
    wait(browser, lambda d: d.find_element(By.ID, "viewer-name").text == "sunrise.png")
    wait(browser, lambda d: d.execute_script("const i = document.getElementById('viewer-img'); return !!i && i.complete && i.naturalWidth > 0"))
    shot(browser, "lightbox")
    browser.find_element(By.ID, "viewer").send_keys(Keys.ARROW_RIGHT)
    wait(browser, lambda d: d.find_element(By.ID, "viewer-name").text == "sea.png")
    browser.find_element(By.ID, "viewer").send_keys(Keys.ESCAPE)
    wait(browser, lambda d: not d.find_element(By.ID, "viewer").is_displayed())

    # A video plays in the browser's player and seeks (Range requests through a download ticket).
    import imageio_ffmpeg
    clip = tmp_path / "clip.webm"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=duration=20:size=320x240:rate=10", "-c:v", "libvpx", "-b:v", "300k", str(clip)],
                   check=True, timeout=120)
    put(base, admin_token(base), "/local/clip.webm", clip.read_bytes())
    # Subtitles beside it, SubRip as most are: offered as tracks, turned into WebVTT by the server.
    put(base, admin_token(base), "/local/clip.srt",
        "1\r\n00:00:01,000 --> 00:00:05,000\r\nHello, world\r\n\r\n2\r\n00:00:11,000 --> 00:00:15,000\r\nTwelve\r\n".encode())
    put(base, admin_token(base), "/local/clip.ru.srt", "1\n00:00:01,000 --> 00:00:05,000\nПривет\n".encode())
    go(browser, base, "/local", "clip.webm")
    entry(browser, "clip.webm").find_element(By.CSS_SELECTOR, "a.name").click()
    wait(browser, lambda d: d.execute_script("const v = document.getElementById('viewer-video'); return !!v && v.readyState >= 1 && v.duration > 19"))
    labels = browser.execute_script("return [...document.getElementById('viewer-video').textTracks].map(t => t.label)")
    assert sorted(labels) == ["clip.srt", "ru"], labels
    wait(browser, lambda d: d.execute_script(
        "const t = [...document.getElementById('viewer-video').textTracks].find(t => t.mode === 'showing');"
        "return !!t && !!t.cues && t.cues.length === 2 && t.cues[0].text === 'Hello, world'"))
    vlc = browser.find_element(By.CSS_SELECTOR, ".players a[href^='vlc://']").get_attribute("href")
    assert vlc.startswith("vlc://http") and "/api/fs/dl/" in vlc, vlc
    browser.execute_script("const v = document.getElementById('viewer-video'); v.muted = true; v.currentTime = 12; v.play();")
    wait(browser, lambda d: d.execute_script("const v = document.getElementById('viewer-video'); return v.currentTime > 12.3 && !v.seeking"))
    shot(browser, "video")
    phone_shot(browser, "phone-video")
    browser.find_element(By.ID, "viewer-close").click()

    # A PDF in the browser's own viewer, framed by the page, still under the sandbox policy.
    put(base, admin_token(base), "/local/hello.pdf", pdf("Hello PDF"))
    browser.refresh()
    wait(browser, lambda d: entry(d, "hello.pdf") is not None)
    entry(browser, "hello.pdf").find_element(By.CSS_SELECTOR, "a.name").click()
    frame = wait(browser, EC.presence_of_element_located((By.ID, "viewer-pdf")))
    with urllib.request.urlopen(frame.get_attribute("src")) as r:
        assert r.headers["Content-Type"] == "application/pdf"
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert r.read().startswith(b"%PDF")
    time.sleep(1)
    shot(browser, "pdf")
    browser.find_element(By.ID, "viewer-close").click()

    # The system's dark theme is followed.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    go(browser, base, "/local", "README.txt")
    bg = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert sum(int(x) for x in bg[bg.index("(") + 1:-1].split(",")[:3]) < 120, bg
    shot(browser, "dark")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})

    # A phone: nothing scrolls sideways, in the list, the grid and the preview; the menu is in reach.
    browser.set_window_size(390, 844)
    go(browser, base, "/local", "README.txt")
    assert browser.execute_script("return window.innerWidth") <= 400
    assert fits(browser)
    r = entry(browser, "README.txt").find_element(By.CSS_SELECTOR, "details.menu summary").rect
    assert r["x"] + r["width"] <= 390 and r["height"] >= 36, r
    shot(browser, "phone-list")
    go(browser, base, "/photos/media/all", "sunrise.png")
    assert fits(browser)
    shot(browser, "phone-grid")
    entry(browser, "sunrise.png").find_element(By.CSS_SELECTOR, "a.name").click()
    wait(browser, lambda d: d.execute_script("const i = document.getElementById('viewer-img'); return !!i && i.complete && i.naturalWidth > 0"))
    assert fits(browser)
    shot(browser, "phone-lightbox")


def test_russian_read_only_user_and_guests(demo_server, tmp_path):
    base, work, _ = demo_server
    token = admin_token(base)
    status, r = api(base, "POST", "/api/admin/users", token,
                    {"name": "reader", "password": "reader-pass-1", "base_path": "/", "can_write": False, "is_admin": False})
    assert status == 201, r
    put(base, token, "/local/полтора.bin", b"x" * 1536)

    ru = chromium(tmp_path, lang="ru")
    try:
        ru.get(base + "/")
        wait(ru, EC.visibility_of_element_located((By.ID, "login-form")))
        assert ru.find_element(By.CSS_SELECTOR, "#login-form button").text == "Войти"
        assert ru.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
        sign_in(ru, base, "reader", "reader-pass-1")
        go(ru, base, "/local", "README.txt")
        assert "Элементов" in ru.find_element(By.ID, "status").text
        # No write buttons for a reader: no upload, no new folder, nothing but download and share.
        assert not ru.find_element(By.ID, "upload-label").is_displayed()
        assert not ru.find_element(By.ID, "new-folder").is_displayed()
        offered = actions(ru, "README.txt")
        assert offered == ["Скачать", "Поделиться"], offered
        # Sizes written as Russian writes numbers: a decimal comma.
        size = entry(ru, "полтора.bin").find_element(By.CSS_SELECTOR, "span.num").text
        assert size.startswith("1,5"), size
        shot(ru, "reader-ru")
        # The switch goes back to English, and stays.
        ru.find_element(By.CSS_SELECTOR, "#lang option[value=en]").click()
        wait(ru, lambda d: d.find_element(By.ID, "logout").text == "Log out")
    finally:
        ru.quit()

    # Guests: off by default; an admin opens one mount to them from the page.
    assert api(base, "GET", "/api/fs/list?path=/")[0] == 401
    admin = chromium(tmp_path)
    try:
        sign_in(admin, base)
        admin.get(base + "/#admin")
        form = wait(admin, EC.visibility_of_element_located((By.ID, "mount-form")))
        form.find_element(By.NAME, "path").send_keys("/public")
        wait(admin, lambda d: form.find_elements(By.CSS_SELECTOR, "select[name=remote] option[value=local]"))
        form.find_element(By.CSS_SELECTOR, "select[name=remote] option[value=local]").click()
        form.find_element(By.NAME, "root").send_keys("notes")
        form.find_element(By.NAME, "read_only").click()
        form.find_element(By.NAME, "guest").click()
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(admin, lambda d: d.find_elements(By.CSS_SELECTOR, "#mounts tr[data-path='/public']"))
    finally:
        admin.quit()
    guest = chromium(tmp_path)
    try:
        guest.get(base + "/")
        wait(guest, lambda d: names(d) == {"public"})
        go(guest, base, "/public", "todo.md")
        assert not guest.find_element(By.ID, "upload-label").is_displayed()
        assert actions(guest, "todo.md") == ["Download"]
        entry(guest, "todo.md").find_element(By.CSS_SELECTOR, "a.name").click()
        article = wait(guest, EC.visibility_of_element_located((By.CSS_SELECTOR, "#viewer-body article.markdown")))
        assert article.find_element(By.TAG_NAME, "h1").text == "To do"
        shot(guest, "guest")
    finally:
        guest.quit()
    # Only that mount: the rest of the tree still needs signing in.
    assert api(base, "GET", "/api/fs/list?path=/gdrive")[0] == 403
    assert api(base, "GET", "/api/fs/download?path=/local/README.txt")[0] == 403
    assert api(base, "POST", "/api/fs/mkdir", body={"path": "/public/x"})[0] == 401


def test_share_links_in_a_fresh_browser(demo_server, browser, tmp_path):
    base, work, _ = demo_server
    sign_in(browser, base)
    go(browser, base, "/local", "notes")
    act(browser, "notes", "Share")
    dialog = wait(browser, EC.visibility_of_element_located((By.ID, "share-dialog")))
    dialog.find_element(By.NAME, "password").send_keys("open sesame")
    browser.find_element(By.ID, "share-create").click()
    url = wait(browser, lambda d: d.find_element(By.ID, "share-url").get_attribute("value"))
    assert "/s/" in url
    # The link is made: its settings are shown as made, no longer editable.
    assert not dialog.find_element(By.NAME, "password").is_enabled()
    assert not dialog.find_element(By.NAME, "max_downloads").is_enabled()
    shot(browser, "share-dialog")
    browser.find_element(By.CSS_SELECTOR, "#share-form button[value=cancel]").click()
    browser.get(base + "/#shares")
    wait(browser, lambda d: url.split("/s/")[1] in d.find_element(By.ID, "shares").text)

    # Someone with the link and no account, in a browser of their own.
    other = chromium(tmp_path)
    try:
        other.get(url)
        form = wait(other, EC.visibility_of_element_located((By.ID, "unlock-form")))
        assert "notes" in other.find_element(By.ID, "unlock-title").text
        form.find_element(By.NAME, "password").send_keys("wrong guess")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(other, lambda d: "Wrong password" in d.find_element(By.ID, "unlock-error").text)
        assert not other.find_element(By.ID, "files-view").is_displayed()
        form.find_element(By.NAME, "password").send_keys("open sesame")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(other, lambda d: entry(d, "todo.md") is not None)
        assert names(other) == {"todo.md"}, "the shared folder only"
        assert not other.find_element(By.ID, "logout").is_displayed()
        assert not other.find_element(By.ID, "upload-label").is_displayed()
        assert actions(other, "todo.md") == ["Download"]
        entry(other, "todo.md").find_element(By.CSS_SELECTOR, "a.name").click()
        article = wait(other, EC.visibility_of_element_located((By.CSS_SELECTOR, "#viewer-body article.markdown")))
        assert article.find_element(By.TAG_NAME, "h1").text == "To do"
        shot(other, "share-open")
        # A key that no longer opens the share (they last two hours) brings the password form back.
        sid = url.split("/s/")[1]
        other.execute_script(f"sessionStorage.setItem('cloudmux-share-{sid}', '1.not-a-key')")
        other.refresh()
        wait(other, EC.visibility_of_element_located((By.ID, "unlock-form")))
        # Nothing outside the share through its address.
        other.get(url + "#" + urllib.parse.quote("/../../local", safe=""))
        time.sleep(1)
        assert "README.txt" not in other.find_element(By.TAG_NAME, "body").text
    finally:
        other.quit()

    # A shared file: its size and date, Download as the main action; no folder's ZIP, no count of items.
    token = admin_token(base)
    status, r = api(base, "POST", "/api/shares", token, {"path": "/local/README.txt"})
    assert status == 201, r
    solo = chromium(tmp_path)
    try:
        solo.get(base + r["share"]["url"])
        wait(solo, lambda d: entry(d, "README.txt") is not None)
        want = (work / "demo-data" / "README.txt").read_bytes()
        row = entry(solo, "README.txt")
        assert row.find_element(By.CSS_SELECTOR, "span.num").text.endswith(("B", "KiB")), row.text
        assert row.find_element(By.CSS_SELECTOR, "span.date").text, "its date is shown"
        assert not solo.find_element(By.ID, "zip-folder").is_displayed()
        assert "item" not in solo.find_element(By.ID, "status").text
        button = solo.find_element(By.ID, "share-download")
        assert button.is_displayed() and button.text == "Download"
        button.click()
        deadline = time.time() + 20
        done = []
        while time.time() < deadline and not done:
            done = [p for p in solo.downloads.iterdir() if not p.name.endswith(".crdownload")]
            time.sleep(0.2)
        assert [p.read_bytes() for p in done] == [want]
        shot(solo, "share-file")
    finally:
        solo.quit()

    # An expired share answers 410, and its page says so.
    status, r = api(base, "POST", "/api/shares", token, {"path": "/local/README.txt", "expires_in": 1})
    assert status == 201, r
    time.sleep(2.2)
    sid = r["share"]["id"]
    assert api(base, "GET", f"/api/s/{sid}")[0] == 410
    late = chromium(tmp_path)
    try:
        late.get(base + f"/s/{sid}")
        wait(late, lambda d: "expired" in d.find_element(By.ID, "notice").text)
        shot(late, "share-expired")
    finally:
        late.quit()

    # The Shares page: a Copy button by each link; Revoke asks first (a first press revokes nothing).
    first = url.split("/s/")[1]
    browser.get(base + "/#shares")
    row = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"#shares tr[data-id='{first}']"))
    assert row.find_element(By.CSS_SELECTOR, "button.copy").is_displayed()
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    assert row.find_element(By.CSS_SELECTOR, "button.revoke").text == "Press again to revoke"
    assert api(base, "GET", f"/api/s/{first}")[0] == 200, "one press revokes nothing"
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    wait(browser, lambda d: api(base, "GET", f"/api/s/{first}")[0] == 410)


def test_menus_open_one_at_a_time_and_close_outside_on_escape_and_by_right_click(demo_server, browser):
    """The ⋯ menus behave as menus: a second one closes the first, a click outside or Escape closes
    them (Escape gives the focus back to the ⋯), and a right click on an entry opens its menu instead of
    the browser's."""
    from selenium.webdriver.common.action_chains import ActionChains

    base, _, _ = demo_server
    sign_in(browser, base)
    go(browser, base, "/local", "README.txt")
    rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "#entries li.entry")
            if any(m.is_displayed() for m in r.find_elements(By.CSS_SELECTOR, "details.menu"))]
    assert len(rows) >= 2, [r.get_attribute("data-name") for r in rows]
    first, second = (r.find_element(By.CSS_SELECTOR, "details.menu") for r in rows[:2])
    opened = lambda: [d for d in browser.find_elements(By.CSS_SELECTOR, "details.menu") if d.get_attribute("open") is not None]

    # The lower one first: an open menu drops over the rows below it.
    second.find_element(By.TAG_NAME, "summary").click()
    assert opened() == [second]
    first.find_element(By.TAG_NAME, "summary").click()
    assert opened() == [first], "opening another menu closed the first"
    browser.find_element(By.ID, "crumbs").click()
    assert opened() == [], "a click outside closed it"

    first.find_element(By.TAG_NAME, "summary").click()
    assert opened() == [first]
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    assert opened() == []
    focused = browser.switch_to.active_element
    assert focused.tag_name == "summary" and focused.find_element(By.XPATH, "..") == first, "focus back on its ⋯"

    ActionChains(browser).context_click(rows[1].find_element(By.CSS_SELECTOR, "span.date")).perform()
    assert opened() == [second], "a right click opened the entry's menu"
    assert browser.switch_to.active_element.find_element(By.XPATH, "..").get_attribute("class") == "menu-items"
    shot(browser, "menu-right-click")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    assert opened() == []


def test_search_results_in_order_with_their_folder_as_a_link_and_the_view_chosen_per_mount(demo_server, browser):
    """Search results come folders first and by name, each with a link to the folder it is in; choosing a
    list for one mount leaves another's default (Photos a grid)."""
    base, _, _ = demo_server
    token = admin_token(base)
    for folder in ["/local/found", "/local/found/sub"]:
        assert api(base, "POST", "/api/fs/mkdir", token, {"path": folder})[0] in (200, 201)
    for name in ["b-zeta.txt", "A-alpha.txt", "sub/c-middle.txt", "sub/a-first.txt"]:
        put(base, token, "/local/found/" + name, b"x")
    sign_in(browser, base)
    go(browser, base, "/local/found", "b-zeta.txt")
    box = browser.find_element(By.ID, "search-input")
    box.send_keys(".txt", Keys.ENTER)
    wait(browser, lambda d: entry(d, "c-middle.txt") is not None)
    got = [r.get_attribute("data-name") for r in browser.find_elements(By.CSS_SELECTOR, "#entries li.entry")]
    assert got == ["A-alpha.txt", "a-first.txt", "b-zeta.txt", "c-middle.txt"], got
    where = entry(browser, "c-middle.txt").find_element(By.CSS_SELECTOR, "a.where")
    assert where.text == "/local/found/sub"
    where.click()
    wait(browser, lambda d: d.execute_script("return decodeURIComponent(location.hash)") == "#/local/found/sub")
    wait(browser, lambda d: entry(d, "a-first.txt") is not None and entry(d, "b-zeta.txt") is None)

    # A list chosen in /local does not make Photos a list.
    browser.find_element(By.ID, "view-list").click()
    go(browser, base, "/photos/media/all", "sunrise.png")
    wait(browser, lambda d: d.find_element(By.ID, "entries").get_attribute("class") == "grid")
    browser.find_element(By.ID, "view-list").click()
    go(browser, base, "/local", "README.txt")
    assert browser.find_element(By.ID, "entries").get_attribute("class") == "list"
    go(browser, base, "/photos/media/all", "sunrise.png")
    assert browser.find_element(By.ID, "entries").get_attribute("class") == "list", "Photos' own choice kept"


def test_the_theme_switch_overrides_the_system_and_is_remembered(demo_server, browser):
    base, _, _ = demo_server
    sign_in(browser, base)
    background = lambda: browser.execute_script("return getComputedStyle(document.documentElement).backgroundColor")
    light = background()
    assert light == "rgb(255, 255, 255)", light
    browser.find_element(By.CSS_SELECTOR, "#theme option[value=dark]").click()
    wait(browser, lambda d: background() == "rgb(20, 23, 28)")
    shot(browser, "dark")
    browser.refresh()
    wait(browser, lambda d: d.find_element(By.ID, "files-view").is_displayed())
    assert background() == "rgb(20, 23, 28)", "the choice is remembered"
    assert browser.find_element(By.ID, "theme").get_attribute("value") == "dark"
    browser.find_element(By.CSS_SELECTOR, "#theme option[value='']").click()
    wait(browser, lambda d: background() == light)


def test_markdown_tables_keep_their_alignment_and_task_boxes_have_names(demo_server, browser):
    base, _, _ = demo_server
    token = admin_token(base)
    put(base, token, "/local/aligned.md",
        "# Plan\n\n| left | middle | right |\n|:--|:-:|--:|\n| a | b | c |\n\n- [x] write it\n- [ ] ship it\n".encode())
    sign_in(browser, base)
    go(browser, base, "/local", "aligned.md")
    entry(browser, "aligned.md").find_element(By.CSS_SELECTOR, "a.name").click()
    article = wait(browser, EC.visibility_of_element_located((By.CSS_SELECTOR, "#viewer-body article.markdown")))
    cells = article.find_elements(By.CSS_SELECTOR, "tbody td")
    assert [c.value_of_css_property("text-align") for c in cells] == ["left", "center", "right"]
    boxes = article.find_elements(By.CSS_SELECTOR, "input[type=checkbox]")
    assert [b.get_attribute("aria-label") for b in boxes] == ["write it", "ship it"]
    assert [b.is_selected() for b in boxes] == [True, False]
    # Nothing the page's own policy refused on the way (inline styles would be).
    refused = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not refused, refused


def test_a_big_folder_pages_selects_whole_and_works_by_keyboard(demo_server, browser):
    """450 entries: the pager above and below the list; Select all says it took a page and offers the
    whole folder; shift-click picks a range; arrows move between entries and Ctrl+A picks the folder."""
    base, work, _ = demo_server
    many = work / "demo-data" / "many"
    many.mkdir()
    for i in range(450):
        (many / f"f{i:03}.txt").write_bytes(b"x")
    sign_in(browser, base)
    go(browser, base, "/local/many", "f000.txt")
    for p in ["pager-top", "pager"]:
        assert "1 / 3" in browser.find_element(By.ID, p).text or "1 of 3" in browser.find_element(By.ID, p).text, p

    browser.find_element(By.ID, "select-all").click()
    count = browser.find_element(By.ID, "selection-count").text
    assert count == "200 selected: this page of 450", count
    whole = browser.find_element(By.ID, "select-folder")
    assert whole.is_displayed() and whole.text == "Select all 450 in this folder"
    whole.click()
    wait(browser, lambda d: d.find_element(By.ID, "selection-count").text == "450 selected")
    browser.find_element(By.ID, "bulk-clear").click()
    wait(browser, lambda d: not d.find_element(By.ID, "selection").is_displayed())

    # Shift-click: the second click picks everything between.
    from selenium.webdriver.common.action_chains import ActionChains
    boxes = lambda: browser.find_elements(By.CSS_SELECTOR, "#entries li.entry[data-path] .pick")
    boxes()[2].click()
    ActionChains(browser).key_down(Keys.SHIFT).click(boxes()[6]).key_up(Keys.SHIFT).perform()
    assert browser.find_element(By.ID, "selection-count").text == "5 selected"
    picked = [r.get_attribute("data-name") for r in browser.find_elements(By.CSS_SELECTOR, "#entries li.entry.picked")]
    assert picked == [f"f{i:03}.txt" for i in range(2, 7)], picked
    browser.find_element(By.ID, "bulk-clear").click()

    # The keyboard: arrows from an entry to the next, Ctrl+A for the whole folder (once the list is
    # drawn again after the selection was cleared).
    wait(browser, lambda d: not d.find_element(By.ID, "selection").is_displayed())
    first = wait(browser, lambda d: entry(d, "f000.txt") and entry(d, "f000.txt").find_element(By.CSS_SELECTOR, "a.name"))
    first.send_keys(Keys.ARROW_DOWN)
    assert browser.switch_to.active_element.text == "f001.txt"
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN, Keys.ARROW_UP, Keys.ARROW_UP)
    assert browser.switch_to.active_element.text == "f000.txt"
    browser.switch_to.active_element.send_keys(Keys.CONTROL, "a")
    wait(browser, lambda d: d.find_element(By.ID, "selection-count").text == "450 selected")
    shot(browser, "big-folder")


def test_icons_tell_kinds_and_remotes_apart(demo_server, browser):
    """Each mount shows the kind of remote it is; code, data, text, PDF, video and archives each have an
    icon of their own."""
    base, work, _ = demo_server
    token = admin_token(base)
    assert api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/kinds"})[0] in (200, 201)
    names_ = ["a.rs", "b.json", "c.txt", "d.pdf", "e.mp4", "f.zip"]
    for n in names_:
        put(base, token, "/local/kinds/" + n, b"x")
    sign_in(browser, base)
    wait(browser, lambda d: names(d) >= {"gdrive", "local", "photos", "yadisk"})
    icon = lambda name: browser.execute_script(
        "return getComputedStyle(arguments[0]).backgroundImage", entry(browser, name).find_element(By.CSS_SELECTOR, ".icon"))
    mounts = {m: icon(m) for m in ["gdrive", "local", "photos", "yadisk"]}
    assert len(set(mounts.values())) == 4, "one icon per kind of remote"
    assert entry(browser, "gdrive").get_attribute("class").split() == ["entry", "mount", "gdrive"]
    go(browser, base, "/local/kinds", "a.rs")
    files = {n: icon(n) for n in names_}
    assert len(set(files.values())) == len(names_), "one icon per kind of file"
    assert all(v.startswith("url(") for v in files.values())
    shot(browser, "icons")


def test_a_phone_sees_files_first_with_their_size_and_date_and_admin_fits(demo_server, browser):
    """At 390 px: the first file starts in the top third of the screen, each entry still says its size
    and date (under its name), and the Admin page does not scroll sideways."""
    base, _, _ = demo_server
    sign_in(browser, base)
    browser.set_window_size(390, 844)
    go(browser, base, "/local", "README.txt")
    rects = {k: browser.find_element(By.CSS_SELECTOR, k).rect for k in ["header", "#crumbs", ".toolbar"]}
    first = browser.find_elements(By.CSS_SELECTOR, "#entries li.entry")[0].rect
    print("phone layout:", rects, first)
    assert first["y"] < 844 / 3, (first, rects)
    meta = entry(browser, "README.txt").find_element(By.CSS_SELECTOR, ".meta")
    assert meta.is_displayed() and "B" in meta.text and "·" in meta.text, meta.text
    assert fits(browser)
    shot(browser, "phone-first")
    browser.get(base + "/#admin")
    wait(browser, EC.visibility_of_element_located((By.ID, "mount-form")))
    assert fits(browser), browser.execute_script(
        "return [...document.querySelectorAll('#admin-view *')].filter(e => e.getBoundingClientRect().right > innerWidth)"
        ".slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))")
    shot(browser, "phone-admin")


def test_the_main_action_of_a_form_reads_as_one(demo_server, browser):
    """Sign in is a filled button, not another box like the fields above it."""
    base, _, _ = demo_server
    browser.get(base + "/")
    button = wait(browser, EC.visibility_of_element_located((By.CSS_SELECTOR, "#login-form button")))
    field = browser.find_element(By.CSS_SELECTOR, "#login-form input[name=username]")
    css = lambda e, p: e.value_of_css_property(p)
    assert css(button, "background-color") == "rgba(37, 89, 184, 1)", css(button, "background-color")
    assert css(button, "background-color") != css(field, "background-color")
    assert css(button, "font-weight") in ("600", "700")


def phone_shot(driver, name):
    """A screenshot at a phone's width (390 × 844, mobile), then the window as it was; the page must not
    scroll sideways there."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        time.sleep(0.3)
        assert fits(driver), name
        shot(driver, name)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def no_native_dialogs(driver):
    """Makes the browser's own prompt/confirm/alert record that they were called (the page must not)."""
    driver.execute_script("window.__native = []; for (const f of ['prompt', 'confirm', 'alert'])"
                          " window[f] = (...a) => { window.__native.push(f); return null; };")


def native_dialogs(driver):
    return driver.execute_script("return window.__native || []")


def ask_answer(driver, text):
    """Types `text` into the question dialog and confirms."""
    box = wait(driver, EC.visibility_of_element_located((By.ID, "ask-input")))
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text, Keys.ENTER)


def test_rename_move_copy_new_folder_and_share_use_the_pages_own_dialogs(demo_server, browser):
    """Item 1: no prompt() or confirm(): a question dialog that checks names before the server does, and
    a folder picker that browses, makes a folder, and refuses a move into itself or to where it is;
    the share dialog's path chosen with the same picker."""
    base, work, _ = demo_server
    token = admin_token(base)
    api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/dlg"})
    api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/dlg/sub"})
    put(base, token, "/local/dlg/a.txt", b"a" * 10)
    put(base, token, "/local/dlg/report.final.txt", b"r")
    sign_in(browser, base)
    go(browser, base, "/local/dlg", "report.final.txt")
    no_native_dialogs(browser)

    # Rename: the stem chosen (typing keeps the extension); a name with "/" is refused in the dialog.
    act(browser, "report.final.txt", "Rename")
    box = wait(browser, EC.visibility_of_element_located((By.ID, "ask-input")))
    assert box.get_attribute("value") == "report.final.txt"
    assert browser.execute_script("const i = document.getElementById('ask-input'); return [i.selectionStart, i.selectionEnd]") == [0, 12]
    assert browser.switch_to.active_element == box
    box.send_keys("x/y", Keys.ENTER)
    wait(browser, lambda d: "/" in d.find_element(By.ID, "ask-error").text)
    assert browser.find_element(By.ID, "ask").is_displayed() and box.get_attribute("aria-invalid") == "true"
    ask_answer(browser, "renamed.txt")
    wait(browser, lambda d: entry(d, "renamed.txt") is not None)
    assert (work / "demo-data" / "dlg" / "renamed.txt").exists()

    # Escape cancels: nothing renamed.
    act(browser, "renamed.txt", "Rename")
    wait(browser, EC.visibility_of_element_located((By.ID, "ask-input"))).send_keys("other", Keys.ESCAPE)
    wait(browser, lambda d: not d.find_element(By.ID, "ask").is_displayed())
    assert entry(browser, "renamed.txt") is not None

    # Move a folder: not into itself, not where it is; one level up it goes.
    act(browser, "sub", "Move")
    wait(browser, EC.visibility_of_element_located((By.ID, "picker")))
    wait(browser, lambda d: "Already here" in d.find_element(By.ID, "picker-hint").text)
    assert not browser.find_element(By.ID, "picker-ok").is_enabled()
    itself = browser.find_element(By.CSS_SELECTOR, "#picker-list button[data-path='/local/dlg/sub']")
    assert not itself.is_enabled(), "a folder cannot be moved into itself"
    pick_folder(browser, ["local"])
    wait(browser, lambda d: entry(d, "sub") is None)
    assert (work / "demo-data" / "sub").is_dir()

    # Copy, into a folder made in the picker.
    act(browser, "a.txt", "Copy")
    wait(browser, EC.visibility_of_element_located((By.ID, "picker")))
    wait(browser, lambda d: d.find_element(By.ID, "picker-ok").is_enabled())
    browser.find_element(By.ID, "picker-new").click()
    ask_answer(browser, "copies")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#picker-crumbs button[aria-current]").text == "copies")
    assert browser.find_element(By.ID, "picker").is_displayed(), "back in the picker after naming the folder"
    shot(browser, "copy-picker")
    phone_shot(browser, "phone-copy-picker")
    browser.find_element(By.ID, "picker-ok").click()
    wait(browser, lambda d: (work / "demo-data" / "dlg" / "copies" / "a.txt").exists(), 40)
    assert (work / "demo-data" / "dlg" / "copies" / "a.txt").read_bytes() == b"a" * 10
    browser.find_element(By.ID, "tasks-close").click()

    # New folder from the toolbar: ".." refused in the dialog, then made.
    browser.find_element(By.ID, "new-folder").click()
    ask_answer(browser, "..")
    wait(browser, lambda d: d.find_element(By.ID, "ask-error").text)
    ask_answer(browser, "made")
    wait(browser, lambda d: entry(d, "made") is not None)

    # The share dialog's path chosen with the picker: a.txt's dialog shares the folder "copies" instead.
    act(browser, "a.txt", "Share")
    wait(browser, EC.visibility_of_element_located((By.ID, "share-dialog")))
    assert browser.find_element(By.ID, "share-path").text == "/local/dlg/a.txt"
    browser.find_element(By.ID, "share-choose").click()
    pick_folder(browser, ["copies"])
    assert browser.find_element(By.ID, "share-dialog").is_displayed()
    assert browser.find_element(By.ID, "share-path").text == "/local/dlg/copies"
    browser.find_element(By.ID, "share-create").click()
    url = wait(browser, lambda d: d.find_element(By.ID, "share-url").get_attribute("value"))
    assert not browser.find_element(By.ID, "share-choose").is_enabled(), "the made link's path no longer changes"
    status, shares = api(base, "GET", "/api/shares", token)
    assert any(s["path"] == "/local/dlg/copies" and url.endswith(s["url"]) for s in shares["shares"]), shares
    assert native_dialogs(browser) == []

    # Delete from the list's keyboard (Delete), confirmed in the page's dialog.
    browser.find_element(By.CSS_SELECTOR, "#share-dialog button[value=cancel]").click()
    entry(browser, "made").find_element(By.CSS_SELECTOR, "a.name").send_keys(Keys.DELETE)
    wait(browser, EC.visibility_of_element_located((By.ID, "ask-ok"))).click()
    wait(browser, lambda d: entry(d, "made") is None)
    assert native_dialogs(browser) == []


def jpeg_with_exif(jpeg):
    """`jpeg` with an EXIF segment saying a camera, a time, an exposure and a place (Sydney)."""
    import struct

    def ifd(entries, start, tail_at):
        # entries: (tag, type, count, value bytes); values longer than 4 bytes go after the IFD.
        out, extra = struct.pack(">H", len(entries)), b""
        data_at = start + 2 + 12 * len(entries) + 4
        for tag, typ, count, value in entries:
            if len(value) <= 4:
                out += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\0")
            else:
                out += struct.pack(">HHII", tag, typ, count, data_at + len(extra))
                extra += value + (b"\0" if len(value) % 2 else b"")
        return out + struct.pack(">I", tail_at) + extra

    ascii_ = lambda s: (2, len(s) + 1, s.encode() + b"\0")
    rational = lambda *v: (5, len(v), b"".join(struct.pack(">II", a, b) for a, b in v))
    # IFD0 at 8, then the EXIF IFD, then the GPS IFD; each sized before it is placed.
    def sized(entries):
        return len(ifd(entries, 0, 0))
    exif_entries = [(0x829A, *rational((1, 250))), (0x829D, *rational((28, 10))),
                    (0x8827, 3, 1, struct.pack(">H", 400)), (0x9003, *ascii_("2024:07:14 18:30:05"))]
    gps_entries = [(0x0001, *ascii_("S")), (0x0002, *rational((33, 1), (51, 1), (3564, 100))),
                   (0x0003, *ascii_("E")), (0x0004, *rational((151, 1), (12, 1), (3, 1)))]
    ifd0_probe = [(0x010F, *ascii_("Canon")), (0x0110, *ascii_("Canon EOS 5D")),
                  (0x8769, 4, 1, b"\0" * 4), (0x8825, 4, 1, b"\0" * 4)]
    exif_at = 8 + sized(ifd0_probe)
    gps_at = exif_at + sized(exif_entries)
    ifd0 = ifd0_probe[:2] + [(0x8769, 4, 1, struct.pack(">I", exif_at)), (0x8825, 4, 1, struct.pack(">I", gps_at))]
    tiff = b"MM\0\x2a" + struct.pack(">I", 8) + ifd(ifd0, 8, 0) + ifd(exif_entries, exif_at, 0) + ifd(gps_entries, gps_at, 0)
    app1 = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def thumbnail(base, token, path, edge=512):
    req = urllib.request.Request(f"{base}/api/fs/thumb?path={urllib.parse.quote(path)}&edge={edge}")
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        return r.read()


def test_the_photo_viewer_is_full_screen_zooms_counts_and_tells_exif(demo_server, browser, tmp_path):
    """Item 3: a dark full-screen view, zoom (buttons, keys, wheel) and pan, "1 / 3", focus on Close, the
    EXIF with the place for its owner; on a share the place is withheld, and said to be."""
    base, _, _ = demo_server
    token = admin_token(base)
    api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/pics"})
    photo = jpeg_with_exif(thumbnail(base, token, "/photos/media/all/sunrise.png"))
    put(base, token, "/local/pics/a-trip.jpg", photo)
    put(base, token, "/local/pics/b-sea.jpg", thumbnail(base, token, "/photos/media/all/sea.png"))
    put(base, token, "/local/pics/c-sun.jpg", thumbnail(base, token, "/photos/media/all/sunrise.png", 256))
    put(base, token, "/local/pics/notes.txt", b"not a photo")
    sign_in(browser, base)
    go(browser, base, "/local/pics", "a-trip.jpg")
    browser.execute_script("localStorage.removeItem('cloudmux-exif')")
    entry(browser, "a-trip.jpg").find_element(By.CSS_SELECTOR, "a.name").click()
    loaded = "const i = document.getElementById('viewer-img'); return !!i && i.complete && i.naturalWidth > 0"
    wait(browser, lambda d: d.execute_script(loaded))
    viewer = browser.find_element(By.ID, "viewer")
    size = browser.execute_script("return [innerWidth, innerHeight]")
    assert [viewer.rect["width"], viewer.rect["height"]] == size, (viewer.rect, size)
    assert viewer.value_of_css_property("background-color") in ("rgba(0, 0, 0, 1)", "rgb(0, 0, 0)")
    assert browser.find_element(By.ID, "viewer-count").text == "1 / 3"
    assert browser.switch_to.active_element.get_attribute("id") == "viewer-close"

    # EXIF: camera, date, exposure and, to its owner (the admin here), the place as a map link.
    browser.find_element(By.ID, "viewer-info").click()
    panel = wait(browser, EC.visibility_of_element_located((By.ID, "viewer-exif")))
    wait(browser, lambda d: "Canon EOS 5D" in panel.text)
    assert "2024" in panel.text and "1/250 s" in panel.text and "f/2.8" in panel.text and "ISO 400" in panel.text
    place = panel.find_element(By.ID, "exif-place")
    assert place.text.startswith("-33.859") and "openstreetmap.org" in place.get_attribute("href")
    shot(browser, "viewer-exif")

    # Zoom: the button, then keys; arrows pan a zoomed photo rather than leave it; 0 fits again.
    transform = lambda: browser.execute_script("return document.getElementById('viewer-img').style.transform")
    browser.find_element(By.ID, "viewer-zoom-in").click()
    assert "scale(1.5)" in transform() and browser.find_element(By.ID, "viewer-zoom").text.startswith("150")
    viewer.send_keys("+")
    assert "scale(2.25)" in transform()
    before = transform()
    viewer.send_keys(Keys.ARROW_RIGHT)
    assert transform() != before and browser.find_element(By.ID, "viewer-count").text == "1 / 3"
    shot(browser, "viewer-zoomed")
    viewer.send_keys("0")
    assert "scale(1)" in transform()
    browser.execute_script("document.getElementById('viewer-body').dispatchEvent(new WheelEvent('wheel',"
                           " {deltaY: -400, clientX: 300, clientY: 300, bubbles: true, cancelable: true}))")
    assert float(transform().split("scale(")[1].rstrip(")")) > 1.5
    viewer.send_keys("0", Keys.ARROW_RIGHT)
    wait(browser, lambda d: d.find_element(By.ID, "viewer-count").text == "2 / 3")
    assert browser.find_element(By.ID, "viewer-name").text == "b-sea.jpg"
    wait(browser, lambda d: "says nothing" in d.find_element(By.ID, "viewer-exif").text)
    viewer.send_keys(Keys.ARROW_LEFT)
    wait(browser, lambda d: d.find_element(By.ID, "viewer-count").text == "1 / 3")

    # A phone: the viewer is the screen, its buttons within it, the details a sheet.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    wait(browser, lambda d: d.execute_script(loaded))
    wait(browser, lambda d: "Canon EOS 5D" in d.find_element(By.ID, "viewer-exif").text)
    for b in ["viewer-prev", "viewer-next", "viewer-close", "viewer-info"]:
        r = browser.find_element(By.ID, b).rect
        assert r["x"] >= 0 and r["x"] + r["width"] <= 390 and r["y"] + r["height"] <= 844, (b, r)
    shot(browser, "phone-viewer")
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    viewer.send_keys(Keys.ESCAPE)

    # Shared: the same photo says its camera, never where it was taken, and says so.
    status, made = api(base, "POST", "/api/shares", token, {"path": "/local/pics"})
    assert status == 201, made
    fresh = chromium(tmp_path)
    try:
        fresh.get(base + made["share"]["url"])
        wait(fresh, lambda d: entry(d, "a-trip.jpg") is not None)
        fresh.execute_script("localStorage.setItem('cloudmux-exif', 'shown')")
        entry(fresh, "a-trip.jpg").find_element(By.CSS_SELECTOR, "a.name").click()
        wait(fresh, lambda d: "Canon EOS 5D" in d.find_element(By.ID, "viewer-exif").text)
        text = fresh.find_element(By.ID, "viewer-exif").text
        assert "not shown on shared links" in text and "-33" not in text and "151" not in text, text
        assert not fresh.find_elements(By.ID, "exif-place")
        shot(fresh, "share-viewer")
    finally:
        fresh.quit()


def test_markdown_shows_images_beside_it_and_code_is_highlighted(demo_server, browser):
    """Item 7: an image beside the Markdown file is shown (through the page's own origin); one on the web
    is a link, never loaded; code blocks and text previews are highlighted; the policy refuses nothing."""
    base, _, _ = demo_server
    token = admin_token(base)
    api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/guide"})
    api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/guide/img"})
    put(base, token, "/local/guide/img/diagram.jpg", thumbnail(base, token, "/photos/media/all/sea.png", 256))
    put(base, token, "/local/guide/guide.md", (
        "# Guide\n\n![the diagram](img/diagram.jpg)\n\n![a tracker](https://tracker.example/p.png)\n\n"
        "| step | time |\n|:--|--:|\n| build | 2 s |\n\n"
        "```rust\nfn main() {\n    let greeting = \"hello\"; // say it\n    println!(\"{greeting} {}\", 42);\n}\n```\n").encode())
    put(base, token, "/local/guide/tool.py", b"def run(x):\n    # twice\n    return 'x' * 2\n")
    sign_in(browser, base)
    go(browser, base, "/local/guide", "guide.md")
    browser.get_log("browser")
    entry(browser, "guide.md").find_element(By.CSS_SELECTOR, "a.name").click()
    article = wait(browser, EC.visibility_of_element_located((By.CSS_SELECTOR, "#viewer-body article.markdown")))
    wait(browser, lambda d: d.execute_script(
        "const i = document.querySelector('#viewer-body article img'); return !!i && i.complete && i.naturalWidth > 0"))
    img = article.find_element(By.TAG_NAME, "img")
    assert img.get_attribute("alt") == "the diagram"
    assert img.get_attribute("src").startswith(base + "/api/fs/dl/"), img.get_attribute("src")
    link = article.find_element(By.XPATH, ".//a[text()='a tracker']")
    assert link.get_attribute("href") == "https://tracker.example/p.png"
    assert len(article.find_elements(By.TAG_NAME, "img")) == 1
    words = lambda cls: [s.text for s in article.find_elements(By.CSS_SELECTOR, "pre code ." + cls)]
    assert {"fn", "let"} <= set(words("hl-k")), words("hl-k")
    assert '"hello"' in words("hl-s") and "// say it" in words("hl-c") and "42" in words("hl-n")
    colours = {browser.find_element(By.CSS_SELECTOR, "pre code ." + c).value_of_css_property("color") for c in ["hl-k", "hl-s", "hl-c"]}
    assert len(colours) == 3, colours
    shot(browser, "markdown")
    phone_shot(browser, "phone-markdown")
    browser.find_element(By.ID, "viewer-close").click()
    entry(browser, "tool.py").find_element(By.CSS_SELECTOR, "a.name").click()
    pre = wait(browser, EC.visibility_of_element_located((By.ID, "viewer-text")))
    assert pre.text.startswith("def run(x):")
    assert [s.text for s in pre.find_elements(By.CSS_SELECTOR, ".hl-k")] == ["def", "return"]
    assert [s.text for s in pre.find_elements(By.CSS_SELECTOR, ".hl-c")] == ["# twice"]
    refused = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not refused, refused


def test_audio_plays_the_folders_tracks_as_a_playlist(demo_server, browser):
    """Item 8: audio opens with the folder's tracks listed; a track's end plays the next; a click plays
    any; the count says where it is."""
    import io
    import wave
    base, _, _ = demo_server
    token = admin_token(base)
    api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/music"})
    # The first is half a second of silence (its end is waited for); the second a minute, so that the
    # list is not redrawn by its end while the test clicks in it.
    for n, frames in [("01 intro.wav", 4000), ("02 song.wav", 480_000), ("03 outro.wav", 4000)]:
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * frames)
        put(base, token, "/local/music/" + n, out.getvalue())
    put(base, token, "/local/music/cover.txt", b"liner notes")
    sign_in(browser, base)
    go(browser, base, "/local/music", "01 intro.wav")
    entry(browser, "01 intro.wav").find_element(By.CSS_SELECTOR, "a.name").click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".playlist button.track")) == 3)
    tracks = lambda: [b.text.split("\n")[0] for b in browser.find_elements(By.CSS_SELECTOR, ".playlist button.track")]
    assert tracks() == ["01 intro.wav", "02 song.wav", "03 outro.wav"]
    current = lambda d: d.find_element(By.CSS_SELECTOR, ".playlist button[aria-current]").text.split("\n")[0]
    assert current(browser) == "01 intro.wav" and browser.find_element(By.ID, "viewer-count").text == "1 / 3"
    # The first ends (half a second), the next plays by itself.
    wait(browser, lambda d: d.find_element(By.ID, "viewer-name").text == "02 song.wav", 15)
    wait(browser, lambda d: current(d) == "02 song.wav")
    shot(browser, "audio")
    browser.find_elements(By.CSS_SELECTOR, ".playlist button.track")[2].click()
    wait(browser, lambda d: d.find_element(By.ID, "viewer-count").text == "3 / 3")
    wait(browser, lambda d: d.execute_script("const a = document.getElementById('viewer-audio'); return !!a && a.readyState >= 1"))
