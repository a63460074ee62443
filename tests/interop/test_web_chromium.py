"""The web page in headless Chromium (Debian's chromium and chromium-driver, driven by selenium): sign in to
`cloudmux serve --demo`, open a mounted folder, upload a file whose name is HTML, see it listed as text,
download it, delete it. A screenshot is saved to target/web-screenshot.png."""

import shutil
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT

NAME = '<img id="injected" src=x onerror="document.title=1"> & "quotes".txt'


@pytest.fixture()
def browser(tmp_path):
    chromedriver = shutil.which("chromedriver")
    assert chromedriver, "chromedriver is missing: ./scripts/test.sh installs chromium and chromium-driver"
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        opts.add_argument(a)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service(chromedriver), options=opts)
    d.downloads = downloads
    yield d
    d.quit()


def row(driver, name):
    """The listing row of `name` (None while it is absent or being redrawn)."""
    try:
        for r in driver.find_elements(By.CSS_SELECTOR, "#listing tbody tr"):
            if r.get_attribute("data-name") == name:
                return r
    except StaleElementReferenceException:
        pass
    return None


def test_sign_in_upload_download_delete(demo_server, browser, tmp_path):
    base, work, emulator = demo_server
    wait = WebDriverWait(browser, 20)
    browser.get(base + "/")
    wait.until(EC.visibility_of_element_located((By.ID, "login-form")))
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("cloudmux-demo")
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(lambda d: row(d, "local") is not None)
    assert {r.get_attribute("data-name") for r in browser.find_elements(By.CSS_SELECTOR, "#listing tbody tr")} \
        >= {"gdrive", "local", "photos", "yadisk"}
    wait.until(lambda d: row(d, "local") is not None and row(d, "local").find_element(By.CSS_SELECTOR, "a.entry"))
    browser.get(base + "/#%2Flocal")
    wait.until(lambda d: row(d, "README.txt") is not None)
    crumbs = browser.find_element(By.ID, "crumbs").text
    assert "local" in crumbs

    src = tmp_path / NAME
    src.write_bytes(b"uploaded from Chromium\n" * 1000)
    browser.find_element(By.ID, "upload-input").send_keys(str(src))
    wait.until(lambda d: row(d, NAME) is not None)
    r = row(browser, NAME)
    assert NAME in r.text, "the name is shown as text"
    assert not browser.find_elements(By.ID, "injected"), "the name did not become HTML"
    assert browser.title == "cloudmux", "no script ran"
    assert (work / "demo-data" / NAME).read_bytes() == src.read_bytes()

    r.find_element(By.XPATH, ".//button[text()='Download']").click()
    # Chrome saves it under a name of its own making (it replaces <, > and quotes).
    done = []
    deadline = time.time() + 20
    while time.time() < deadline and not done:
        done = [p for p in browser.downloads.iterdir() if not p.name.endswith(".crdownload")]
        time.sleep(0.2)
    assert len(done) == 1, list(browser.downloads.iterdir())
    assert done[0].read_bytes() == src.read_bytes()
    assert "quotes" in done[0].name

    # Thumbnails made by the server for the photos of the emulated Google Photos.
    browser.get(base + "/#%2Fphotos%2Fmedia%2Fall")
    wait.until(lambda d: row(d, "sunrise.png") is not None)
    WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: d.execute_script(
            "const i = document.querySelector('td.thumb img');"
            "return !!i && i.complete && i.naturalWidth > 0 && i.src.includes('thumb=');"))
    browser.get(base + "/#%2Flocal")
    wait.until(lambda d: row(d, NAME) is not None)

    screenshot = ROOT / "target" / "web-screenshot.png"
    screenshot.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 1000

    row(browser, NAME).find_element(By.XPATH, ".//button[text()='Delete']").click()
    wait.until(EC.alert_is_present())
    alert = browser.switch_to.alert
    assert NAME in alert.text
    alert.accept()
    wait.until(lambda d: row(d, NAME) is None)
    assert not (work / "demo-data" / NAME).exists()

    # Admin: add a Yandex Disk remote and sign it in from the page (device code shown; the emulator
    # approves it and the server polls), then mount it.
    browser.get(base + "/#admin")
    wait.until(EC.visibility_of_element_located((By.ID, "remote-form")))
    form = browser.find_element(By.ID, "remote-form")
    form.find_element(By.NAME, "name").send_keys("yd2")
    form.find_element(By.CSS_SELECTOR, "select[name=kind] option[value=yadisk]").click()
    form.find_element(By.NAME, "client_id").send_keys("cloudmux-demo.apps.googleusercontent.com")
    form.find_element(By.NAME, "client_secret").send_keys("cloudmux-demo-secret")
    form.find_element(By.NAME, "endpoint").send_keys(emulator)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    sign_in = (By.XPATH, "//table[@id='remotes']//tr[@data-name='yd2']//button[text()='Sign in']")
    wait.until(EC.element_to_be_clickable(sign_in)).click()
    wait.until(EC.visibility_of_element_located((By.ID, "user-code")))
    WebDriverWait(browser, 40).until(
        lambda d: "yd2 is signed in" in d.find_element(By.ID, "signin-status").text)
    mount = browser.find_element(By.ID, "mount-form")
    mount.find_element(By.NAME, "path").send_keys("/yd2")
    mount.find_element(By.CSS_SELECTOR, "select[name=remote] option[value=yd2]").click()
    mount.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: any(c.text == "/yd2" for c in d.find_elements(By.CSS_SELECTOR, "#mounts td")))
    browser.get(base + "/#%2Fyd2")
    wait.until(lambda d: row(d, "Hello from Yandex Disk.txt") is not None)

