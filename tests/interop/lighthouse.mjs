// Runs Lighthouse 12 on one page of cloudmux in a Chromium the test started, signed in where a token is
// given: the token is put in the page's session storage before its scripts run (the page keeps it there,
// per tab, so a fresh tab would see the sign-in page). Node modules come from the folder of the npm
// install (target/tools/node), never from the repository.
//
// node lighthouse.mjs TOOLS BROWSER_URL PAGE_URL mobile|desktop OUT.json [TOKEN]
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [tools, browserURL, url, form, out, token] = process.argv.slice(2);
const need = createRequire(join(tools, "package.json"));
const puppeteer = (await import(pathToFileURL(need.resolve("puppeteer-core")))).default;
const lighthouseModule = await import(pathToFileURL(join(tools, "node_modules/lighthouse/core/index.js")));
const lighthouse = lighthouseModule.default;
const desktop = (await import(pathToFileURL(join(tools, "node_modules/lighthouse/core/config/desktop-config.js")))).default;

const browser = await puppeteer.connect({ browserURL, defaultViewport: null });
const page = await browser.newPage();
if (token) await page.evaluateOnNewDocument((t) => sessionStorage.setItem("cloudmux-token", t), token);
const flags = { disableStorageReset: true, onlyCategories: ["accessibility", "best-practices"], output: "json", logLevel: "error" };
const result = await lighthouse(url, flags, form === "desktop" ? desktop : undefined, page);
writeFileSync(out, result.report);
await page.close();
await browser.disconnect();
