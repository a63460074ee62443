"""The web page audited by the tools people judge pages with: axe-core (injected into headless Chromium)
on every view — no violation of impact serious or critical — and Lighthouse 12.2.3 on the listing and a
share page, mobile and desktop — accessibility at least 98, best practices at least 96. Both come from
npm; ./scripts/test.sh installs them into target/tools/node (never into the repository)."""

import json
import subprocess
import urllib.parse

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import ROOT, free_port
from test_web_chromium import (admin_token, api, browser, chromium, entry, go, jpeg_with_exif, put, shot, sign_in,
                               thumbnail, wait)

NODE_TOOLS = ROOT / "target" / "tools" / "node"
AXE = NODE_TOOLS / "node_modules" / "axe-core" / "axe.min.js"
LIGHTHOUSE = NODE_TOOLS / "node_modules" / ".bin" / "lighthouse"


def need(path):
    assert path.exists(), f"{path} is missing: ./scripts/test.sh installs axe-core and lighthouse from npm"


def axe(driver, view):
    """Runs axe-core on the page as it is; fails on any violation of impact serious or critical."""
    need(AXE)
    driver.execute_script(AXE.read_text() + "\n;return 1;")
    driver.set_script_timeout(60)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations), (e) => done(String(e)));")
    assert isinstance(result, list), result
    bad = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{view}: {json.dumps(bad, indent=1)}"
    return result


def photos(base, token):
    api(base, "POST", "/api/fs/mkdir", token, {"path": "/local/pics"})
    put(base, token, "/local/pics/trip.jpg", jpeg_with_exif(thumbnail(base, token, "/photos/media/all/sunrise.png")))
    put(base, token, "/local/pics/sea.jpg", thumbnail(base, token, "/photos/media/all/sea.png"))


def test_axe_finds_nothing_serious_on_any_view(demo_server, browser, tmp_path):
    base, _, _ = demo_server
    token = admin_token(base)
    photos(base, token)
    seen = {}
    browser.get(base + "/")
    wait(browser, EC.visibility_of_element_located((By.ID, "login-form")))
    seen["sign-in"] = axe(browser, "sign-in")
    sign_in(browser, base)
    go(browser, base, "/local", "README.txt")
    wait(browser, lambda d: d.find_element(By.ID, "readme").is_displayed())
    seen["listing"] = axe(browser, "listing")
    go(browser, base, "/photos/media/all", "sunrise.png")
    seen["grid"] = axe(browser, "grid")
    go(browser, base, "/local/pics", "trip.jpg")
    browser.execute_script("localStorage.setItem('cloudmux-exif', 'shown')")
    entry(browser, "trip.jpg").find_element(By.CSS_SELECTOR, "a.name").click()
    wait(browser, lambda d: "Canon" in d.find_element(By.ID, "viewer-exif").text)
    seen["photo viewer"] = axe(browser, "photo viewer")
    browser.find_element(By.ID, "viewer-close").click()
    entry(browser, "sea.jpg").find_element(By.CSS_SELECTOR, "details.menu summary").click()
    entry(browser, "sea.jpg").find_element(By.XPATH, ".//div[@class='menu-items']/button[text()='Move']").click()
    wait(browser, lambda d: d.find_element(By.ID, "picker-ok").is_enabled() or "Already" in d.find_element(By.ID, "picker-hint").text)
    seen["folder picker"] = axe(browser, "folder picker")
    browser.find_element(By.ID, "picker-cancel").click()
    browser.get(base + "/#admin")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#mounts tbody tr"))
    seen["admin"] = axe(browser, "admin")
    status, made = api(base, "POST", "/api/shares", token, {"path": "/local/pics"})
    assert status == 201
    browser.get(base + "/#shares")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#shares tbody tr"))
    seen["shares"] = axe(browser, "shares")
    # Dark, and a phone.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    go(browser, base, "/local", "README.txt")
    seen["listing, dark"] = axe(browser, "listing, dark")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    go(browser, base, "/local", "README.txt")
    seen["listing, phone"] = axe(browser, "listing, phone")
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    # A share page, in a browser that never signed in.
    fresh = chromium(tmp_path)
    try:
        fresh.get(base + made["share"]["url"])
        wait(fresh, lambda d: entry(d, "trip.jpg") is not None)
        seen["share page"] = axe(fresh, "share page")
    finally:
        fresh.quit()
    # What is left (moderate and minor) is printed, for the record.
    for view, violations in seen.items():
        print(f"axe {view}: " + (", ".join(f"{v['id']} ({v['impact']})" for v in violations) or "none"))


def lighthouse(port, url, desktop, out, token=None):
    """Lighthouse on `url` in the Chromium listening on `port` (signed in with `token`, if given):
    (scores out of 100 by category, the audits it did not pass in full)."""
    need(LIGHTHOUSE)
    cmd = ["node", str(ROOT / "tests" / "interop" / "lighthouse.mjs"), str(NODE_TOOLS), f"http://127.0.0.1:{port}", url,
           "desktop" if desktop else "mobile", str(out)] + ([token] if token else [])
    subprocess.run(cmd, check=True, timeout=240)
    report = json.loads(out.read_text())
    assert report["finalDisplayedUrl"].split("#")[0] == url.split("#")[0], report["finalDisplayedUrl"]
    scores = {k: round(100 * c["score"]) for k, c in report["categories"].items()}
    failed = [f"{a['id']}: {a['title']}" for a in report["audits"].values()
              if a.get("score") is not None and a["score"] < 1 and a.get("scoreDisplayMode") in ("binary", "numeric")]
    return scores, failed


def test_lighthouse_scores_the_sign_in_the_listing_and_a_share_page(demo_server, tmp_path):
    """Lighthouse drives a Chromium the test started; the listing is seen signed in (the token put where
    the page keeps it), the share page as anyone with the link."""
    base, _, _ = demo_server
    token = admin_token(base)
    status, made = api(base, "POST", "/api/shares", token, {"path": "/local"})
    assert status == 201
    port = free_port()
    driver = chromium(tmp_path, extra=[f"--remote-debugging-port={port}"])
    lines, low = [], []
    try:
        pages = {"sign-in": (base + "/", None),
                 "listing": (base + "/#" + urllib.parse.quote("/local", safe=""), token),
                 "share page": (base + made["share"]["url"], None)}
        for name, (url, as_who) in pages.items():
            for desktop in (False, True):
                form = "desktop" if desktop else "mobile"
                out = ROOT / "target" / f"lighthouse-{name.replace(' ', '-')}-{form}.json"
                scores, failed = lighthouse(port, url, desktop, out, as_who)
                lines.append(f"lighthouse {name} {form}: accessibility {scores['accessibility']}, "
                             f"best practices {scores['best-practices']}" + (f"; below full: {failed}" if failed else ""))
                if scores["accessibility"] < 98 or scores["best-practices"] < 96:
                    low.append(lines[-1])
    finally:
        driver.quit()
    (ROOT / "target" / "lighthouse-summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert not low, low
