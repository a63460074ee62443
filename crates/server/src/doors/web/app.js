// cloudmux web page: browse (list or grid), preview, search, upload, download, rename, move, delete,
// share; background tasks; share links opened by anyone at /s/ID; guests where a mount lets them; admin.
// Every name from the server is put on the page with textContent, never as HTML; the one piece of markup
// from the server (a rendered Markdown file, sanitised there) is rebuilt here through an allow-list.
"use strict";

const $ = (id) => document.getElementById(id);
const PER_PAGE = 200;
const IMAGE = /\.(png|jpe?g|gif|webp|bmp|avif)$/i;
const VIDEO = /\.(mp4|m4v|webm|ogv|mov|mkv)$/i;
const AUDIO = /\.(mp3|m4a|aac|ogg|oga|opus|wav|flac)$/i;
const MARKDOWN = /\.(md|markdown)$/i;
const PDF = /\.pdf$/i;
const TEXT = /\.(txt|log|csv|tsv|json|ya?ml|toml|ini|cfg|conf|xml|html?|css|js|mjs|ts|tsx|jsx|rs|py|go|java|kt|c|h|cc|cpp|hpp|cs|rb|php|sh|bash|zsh|ps1|sql|lua|pl|r|swift|dart|scala|diff|patch|srt|vtt|tex|env|gitignore|dockerfile|makefile)$/i;
/** Within what previews as text: source code, and data (tables, settings) — each its own icon. */
const CODE = /\.(html?|css|js|mjs|ts|tsx|jsx|rs|py|go|java|kt|c|h|cc|cpp|hpp|cs|rb|php|sh|bash|zsh|ps1|sql|lua|pl|r|swift|dart|scala|diff|patch|tex|dockerfile|makefile)$/i;
const DATA = /\.(csv|tsv|json|ya?ml|toml|ini|cfg|conf|xml|env)$/i;
const ARCHIVE = /\.(zip|tar|tgz|gz|bz2|xz|zst|7z|rar)$/i;
/** The kinds of remote whose mount points have an icon of their own. */
const REMOTES = ["gdrive", "gphotos", "yadisk", "local"];
const TEXT_PREVIEW_BYTES = 512 * 1024;

// ---------------------------------------------------------------------------------------------------
// Strings

let strings = {};
let fallback = {};
let lang = "en";

/** The string `key` of the page's language, with {holes} filled from `vars`. */
function t(key, vars) {
  let s = strings[key] ?? fallback[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
  return s;
}

/** A string whose key is made at run time (every such key is in the tables too). */
const tr = t;

async function loadStrings(want) {
  const get = async (l) => (await fetch(`/assets/strings/${l}.json`)).json();
  fallback = await get("en");
  lang = want === "ru" ? "ru" : "en";
  strings = lang === "en" ? fallback : await get(lang);
  document.documentElement.lang = lang;
  $("lang").value = lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = tr(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-label]")) e.setAttribute("aria-label", tr(e.dataset.i18nLabel));
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.setAttribute("placeholder", tr(e.dataset.i18nPlaceholder));
  for (const e of document.querySelectorAll("[data-i18n-title]")) e.setAttribute("title", tr(e.dataset.i18nTitle));
}

function preferredLanguage() {
  const saved = localStorage.getItem("cloudmux-lang");
  if (saved) return saved;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "ru" || base === "en") return base;
  }
  return "en";
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function join(dir, name) {
  return (dir === "/" ? "" : dir) + "/" + name;
}

function parentOf(path) {
  return path.split("/").slice(0, -1).join("/") || "/";
}

function human(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  const digits = i ? 1 : 0;
  const shown = new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n);
  return shown + " " + tr("unit." + units[i].toLowerCase());
}

/** The locale numbers and dates are written in: Russian's comma and spaces, or British English. */
function locale() {
  return lang === "ru" ? "ru-RU" : "en-GB";
}

function when(d) {
  if (!d) return "";
  const x = typeof d === "number" ? new Date(d * 1000) : new Date(d);
  return x.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });
}

function kindOf(name) {
  if (IMAGE.test(name)) return "image";
  if (VIDEO.test(name)) return "video";
  if (AUDIO.test(name)) return "audio";
  if (MARKDOWN.test(name)) return "markdown";
  if (PDF.test(name)) return "pdf";
  if (TEXT.test(name)) return "text";
  return "other";
}

/** The classes an entry's icon is drawn from: its kind, and for text, code or data; archives apart. */
function iconKind(name) {
  const kind = kindOf(name);
  if (kind === "text") return CODE.test(name) ? "text code" : DATA.test(name) ? "text data" : "text";
  return kind === "other" && ARCHIVE.test(name) ? "archive" : kind;
}

function status(msg, bad) {
  const s = $("status");
  s.textContent = msg || "";
  s.className = bad ? "error" : "";
}

/** An API error as the page's own message: what went wrong in the page's language, then the server's
 * words and its hint. */
class ApiFailure extends Error {
  constructor(statusCode, body) {
    const e = (body && body.error) || {};
    const head = e.kind ? tr("error." + e.kind) : `${statusCode}`;
    super([head, e.message, e.hint].filter(Boolean).join(" — "));
    this.status = statusCode;
    this.kind = e.kind;
  }
}

// ---------------------------------------------------------------------------------------------------
// Session: a signed-in user (token), the guest (no token, where mounts let guests read), or a share.

let token = sessionStorage.getItem("cloudmux-token");
let me = null;
let guest = false;
const shareMatch = location.pathname.match(/^\/s\/([A-Za-z0-9_-]{1,64})$/);
const share = shareMatch ? { id: shareMatch[1], key: sessionStorage.getItem("cloudmux-share-" + shareMatch[1]) } : null;

async function api(method, path, body) {
  const headers = {};
  if (token && !share) headers["Authorization"] = "Bearer " + token;
  if (share && share.key) headers["X-Share-Key"] = share.key;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: payload });
  if (r.status === 401 && !share) {
    signOut();
    throw new ApiFailure(401, { error: { kind: "unauthenticated", message: t("signin.again") } });
  }
  if (!r.ok) {
    let b = null;
    try { b = await r.json(); } catch (_) {}
    throw new ApiFailure(r.status, b);
  }
  return r.status === 204 ? null : r.json();
}

/** Where the files come from: the signed-in user's tree, the guest's, or a share. */
const source = {
  canWrite() { return !!(me && me.can_write) && !share; },
  list(path, sort, order, pageNo) {
    if (share) return api("GET", `/api/s/${share.id}/list?path=${encodeURIComponent(path)}`).then((d) => {
      const k = sort === "name" ? (e) => e.name.toLowerCase() : sort === "size" ? (e) => e.size || 0 : (e) => e.modified || "";
      d.entries.sort((a, b) => (b.is_dir - a.is_dir) || (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
      if (order === "desc") d.entries.reverse();
      d.total = d.entries.length;
      d.writable = false;
      return d;
    });
    return api("GET", `/api/fs/list?path=${encodeURIComponent(path)}&page=${pageNo}&per_page=${PER_PAGE}&sort=${sort}&order=${order}`);
  },
  shareQ(path) {
    return `path=${encodeURIComponent(path)}` + (share.key ? `&key=${encodeURIComponent(share.key)}` : "");
  },
  /** A URL the browser can load without headers (media elements, downloads). */
  async fileUrl(path, inline) {
    if (share) return `/api/s/${share.id}/dl?${this.shareQ(path)}${inline ? "&inline=true" : ""}`;
    if (guest) return `/api/fs/download?path=${encodeURIComponent(path)}${inline ? "&inline=true" : ""}`;
    const r = await api("POST", "/api/fs/ticket", { path });
    return r.url + (inline ? "?inline=true" : "");
  },
  async zipUrl(path) {
    if (share) return `/api/s/${share.id}/zip?${this.shareQ(path)}`;
    if (guest) return `/api/fs/zip?path=${encodeURIComponent(path)}`;
    return (await api("POST", "/api/fs/ticket", { path })).url;
  },
  /** An image URL of the thumbnail (a blob: URL where it needs the token). */
  async thumbUrl(path) {
    const q = share ? `/api/s/${share.id}/thumb?${this.shareQ(path)}` : `/api/fs/thumb?path=${encodeURIComponent(path)}`;
    if (share || guest) return q + "&edge=256";
    const r = await fetch(q + "&edge=256", { headers: { Authorization: "Bearer " + token } });
    if (!r.ok) throw new Error(String(r.status));
    const u = URL.createObjectURL(await r.blob());
    blobs.push(u);
    return u;
  },
  /** A folder's whole listing (the picker's). */
  listWhole(path) {
    if (share) return api("GET", `/api/s/${share.id}/list?${this.shareQ(path)}`);
    return api("GET", `/api/fs/list?path=${encodeURIComponent(path)}&per_page=0`);
  },
  /** What a photo's EXIF says (the place only where the server gives it). */
  exif(path) {
    if (share) return api("GET", `/api/s/${share.id}/exif?${this.shareQ(path)}`);
    return api("GET", `/api/fs/exif?path=${encodeURIComponent(path)}`);
  },
  markdown(path) {
    if (share) return api("GET", `/api/s/${share.id}/markdown?${this.shareQ(path)}`);
    return api("GET", `/api/fs/markdown?path=${encodeURIComponent(path)}`);
  },
};

let blobs = [];

function show(view) {
  for (const v of ["login-view", "unlock-view", "files-view", "shares-view", "admin-view"]) $(v).hidden = v !== view;
  const signed = !!me;
  $("logout").hidden = !signed;
  $("signin").hidden = signed || !!share || view === "login-view";
  $("nav-files").hidden = !signed;
  $("nav-shares").hidden = !signed;
  $("nav-tasks").hidden = !signed;
  $("nav-admin").hidden = !(me && me.is_admin);
  $("search-form").hidden = !(signed || guest) || !!share;
  $("who").textContent = me ? me.name : share ? t("share.badge") : guest ? t("guest") : "";
}

function signOut() {
  token = null;
  me = null;
  sessionStorage.removeItem("cloudmux-token");
  render();
}

// ---------------------------------------------------------------------------------------------------
// The listing

const state = {
  sort: "name",
  order: "asc",
  page: 1,
  entries: [],
  path: "/",
  writable: false,
  selected: new Set(),
  search: null,
  total: 0,
  /** The index of the last box clicked, for shift-click ranges. */
  anchor: null,
};

function currentRoute() {
  const h = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (h === "admin" || h === "shares") return h;
  return h.startsWith("/") ? h : "/";
}

function crumbs(path) {
  const nav = $("crumbs");
  nav.replaceChildren();
  const top = share ? t("share.top") : "/";
  nav.append(el("a", { href: "#/", text: top }));
  let acc = "";
  for (const part of path.split("/").filter(Boolean)) {
    acc += "/" + part;
    nav.append(el("span", { class: "sep", "aria-hidden": "true", text: "›" }), el("a", { href: "#" + encodeURIComponent(acc), text: part }));
  }
  const last = nav.lastElementChild;
  if (last) last.setAttribute("aria-current", "page");
  // The page's heading, for screen readers: the folder shown.
  $("folder-title").textContent = path === "/" ? (share ? top : t("nav.files")) : path.split("/").pop();
}

async function render() {
  $("notice").textContent = "";
  if (share) return renderShare();
  if (!me && !guest) {
    // The guest may browse where mounts let guests read.
    try {
      guest = (await (await fetch("/api/auth/guest")).json()).open === true;
    } catch (_) {}
    if (!guest) return show("login-view");
  }
  const route = currentRoute();
  if (route === "admin") return me && me.is_admin ? renderAdmin() : show("login-view");
  if (route === "shares") return me ? renderShares() : show("login-view");
  return renderFiles(route);
}

async function renderShare() {
  let about;
  try {
    about = await api("GET", `/api/s/${share.id}`);
  } catch (e) {
    show("files-view");
    $("files-view").hidden = true;
    $("notice").textContent = e.status === 410 ? t("share.gone") : e.status === 404 ? t("share.unknown") : e.message;
    return;
  }
  document.title = `${about.name} — cloudmux`;
  // Where downloads are limited, nothing is fetched that the recipient did not ask for.
  share.limited = about.downloads_left !== null && about.downloads_left !== undefined;
  if (about.password && !share.key) {
    show("unlock-view");
    $("unlock-title").textContent = about.name;
    return;
  }
  if (!about.is_dir) {
    // A shared file: its one entry (size and date where the server tells them), and Download as the
    // page's main action — not a folder's ZIP, nor a count of items.
    show("files-view");
    state.path = "/";
    crumbs("/");
    fill({ path: "/", entries: [{ name: about.name, path: "/", is_dir: false, size: about.size ?? null, modified: about.modified ?? null }], total: 1, writable: false });
    $("zip-folder").hidden = true;
    $("share-download").hidden = false;
    status(about.size !== null && about.size !== undefined ? human(about.size) : "");
    return;
  }
  return renderFiles(currentRoute());
}

async function renderFiles(path) {
  show("files-view");
  $("share-download").hidden = true;
  if (path === "admin" || path === "shares") path = "/";
  if (state.path !== path) state.selected.clear();
  state.path = path;
  state.search = null;
  $("search-input").value = "";
  crumbs(path);
  status(t("loading"));
  let data;
  try {
    data = await source.list(path, state.sort, state.order, state.page);
  } catch (e) {
    // A share's key lasts two hours: when it has run out, the password is asked again.
    if (share && share.key && e.status === 403 && e.kind === "permission_denied") {
      share.key = null;
      sessionStorage.removeItem("cloudmux-share-" + share.id);
      return renderShare();
    }
    status(e.message, true);
    $("entries").replaceChildren();
    $("readme").hidden = true;
    return;
  }
  fill(data);
}

/** Shows a listing (a folder's, or search results with `found`). */
function fill(data, found) {
  for (const u of blobs) URL.revokeObjectURL(u);
  blobs = [];
  state.entries = data.entries;
  state.total = data.total ?? data.entries.length;
  state.anchor = null;
  state.kind = found ? undefined : share ? "share" : data.kind ?? null;
  state.writable = !!data.writable && source.canWrite() && !found;
  document.body.classList.toggle("can-write", state.writable);
  document.body.classList.toggle("can-copy", source.canWrite() && state.kind !== null && !found);
  const images = data.entries.filter((e) => !e.is_dir && IMAGE.test(e.name)).length;
  // Google Photos, and folders mostly of images, open as a grid unless the user chose otherwise.
  const chosen = found ? null : localStorage.getItem(viewKey(state.path));
  const grid = chosen ? chosen === "grid" : (data.kind === "gphotos" || (images > 0 && images * 2 >= data.entries.length));
  setView(grid ? "grid" : "list", false);
  status(found ? t("search.results", { n: data.entries.length, q: found }) : t("entries", { n: data.total }));
  const items = [];
  if (!found && state.path !== "/") {
    items.push(el("li", { class: "entry up" }, el("span"), el("span", { class: "icon", "aria-hidden": "true", text: "↩" }),
      el("a", { class: "name", href: "#" + encodeURIComponent(parentOf(state.path)), text: t("up") })));
  }
  data.entries.forEach((e, i) => items.push(item(e, i, !!found)));
  $("entries").replaceChildren(...items);
  $("zip-folder").hidden = state.kind === null || !!found;
  pager(data, found);
  selectionBar();
  readme(data, found);
  lazyThumbs();
}

/** The pages of a big folder: the same controls above the listing and below it. */
function pager(data, found) {
  const pages = Math.ceil(data.total / PER_PAGE);
  for (const p of [$("pager-top"), $("pager")]) {
    p.replaceChildren();
    if (found || share || pages <= 1) continue;
    if (state.page > 1) p.append(el("button", { type: "button", text: t("page.prev"), onclick: () => { state.page--; render(); } }));
    p.append(el("span", { text: t("page.of", { page: state.page, pages }) }));
    if (state.page < pages) p.append(el("button", { type: "button", text: t("page.next"), onclick: () => { state.page++; render(); } }));
  }
}

function entryPath(e) {
  return share ? e.path : e.path || join(state.path, e.name);
}

function item(e, index, found) {
  const full = entryPath(e);
  const kind = e.is_dir ? (e.mount ? "mount " + (REMOTES.includes(e.remote) ? e.remote : "remote") : "dir") : iconKind(e.name);
  const check = el("input", { type: "checkbox", class: "pick", "aria-label": t("select", { name: e.name }) });
  check.checked = state.selected.has(full);
  check.addEventListener("click", (ev) => {
    // Shift-click: everything from the last box clicked to this one takes this one's state.
    if (ev.shiftKey && state.anchor !== null && state.anchor !== index) {
      const [from, to] = [Math.min(state.anchor, index), Math.max(state.anchor, index)];
      for (const x of state.entries.slice(from, to + 1)) {
        if (check.checked) state.selected.add(entryPath(x)); else state.selected.delete(entryPath(x));
      }
      for (const box of document.querySelectorAll("#entries li.entry[data-path] .pick")) {
        box.checked = state.selected.has(box.closest("li").dataset.path);
        box.closest("li").classList.toggle("picked", box.checked);
      }
    }
    state.anchor = index;
  });
  check.addEventListener("change", () => {
    if (check.checked) state.selected.add(full); else state.selected.delete(full);
    li.classList.toggle("picked", check.checked);
    selectionBar();
  });
  // The icon is drawn by the style sheet from the entry's kind; images get their thumbnail.
  const icon = el("span", { class: "icon", "aria-hidden": "true" });
  if (kind === "image") icon.dataset.thumb = full;
  const label = e.is_dir ? e.name + "/" : e.name;
  const name = e.is_dir
    ? el("a", { class: "name", href: "#" + encodeURIComponent(full), text: label })
    : el("a", { class: "name", href: "#" + encodeURIComponent(state.path), role: "button", text: label, onclick: (ev) => { ev.preventDefault(); open(index); } });
  // Size and date again under the name, for screens too narrow for their columns (hidden elsewhere).
  const meta = [e.is_dir ? "" : human(e.size), when(e.modified)].filter(Boolean).join(" · ");
  if (meta) name.append(el("span", { class: "meta", "aria-hidden": "true", text: meta }));
  // A search result says where it is, as a link to that folder.
  const where = found ? el("a", { class: "where", href: "#" + encodeURIComponent(parentOf(full)), text: parentOf(full) }) : null;
  const li = el("li", { class: "entry " + kind, "data-name": e.name, "data-path": full },
    check, icon, where ? el("span", { class: "found" }, name, where) : name,
    el("span", { class: "num", text: e.is_dir ? "" : human(e.size) }),
    el("span", { class: "date", text: when(e.modified) }),
    menu(e, full, found));
  li.classList.toggle("picked", check.checked);
  return li;
}

/** The actions an entry offers: only those that can work here (nothing changes a mount point, a folder of
 * mount points, a read-only mount or anything for a reader). */
function menu(e, full, found) {
  const act = (key, fn, cls) => el("button", { type: "button", class: cls, text: t(key), onclick: () => { details.open = false; fn().catch((x) => status(x.message, true)); } });
  const items = [];
  // A folder of mount points, not of a remote: neither zipped nor shared.
  const virtual = e.is_dir && !e.mount && !share && !found && state.kind === null;
  if (!e.is_dir) items.push(act("download", () => download(full, false)));
  else if (!virtual) items.push(act("download_zip", () => download(full, true)));
  const mayChange = state.writable && !e.mount;
  if (mayChange) items.push(act("rename", () => rename(e, full)), act("move", () => move([full])));
  if (source.canWrite() && !virtual && !found) items.push(act("copy", () => copy([full])));
  if (me && !share && !virtual) items.push(act("share", () => shareDialog(full)));
  if (mayChange) items.push(act("delete", () => remove([full]), "danger"));
  const details = el("details", { class: "menu" }, el("summary", { "aria-label": t("actions", { name: e.name }), text: "⋯" }), el("div", { class: "menu-items" }, ...items));
  if (!items.length) details.hidden = true;
  return details;
}

function setView(v, remember) {
  $("entries").className = v;
  $("entries-head").hidden = v === "grid";
  $("view-list").setAttribute("aria-pressed", String(v === "list"));
  $("view-grid").setAttribute("aria-pressed", String(v === "grid"));
  if (remember) localStorage.setItem(viewKey(state.path), v);
}

/** Where a list/grid choice is remembered: per mount (its top folder), so that choosing a list for the
 * local folder leaves Photos a grid. */
function viewKey(path) {
  const top = share ? "share" : path.split("/").filter(Boolean)[0] || "";
  return "cloudmux-view:" + top;
}

// Thumbnails are fetched as they scroll into view.
const thumbObserver = "IntersectionObserver" in window ? new IntersectionObserver((seen) => {
  for (const s of seen) {
    if (!s.isIntersecting) continue;
    thumbObserver.unobserve(s.target);
    loadThumb(s.target);
  }
}, { rootMargin: "200px" }) : null;

function lazyThumbs() {
  for (const icon of document.querySelectorAll("#entries .icon[data-thumb]")) {
    if (thumbObserver) thumbObserver.observe(icon); else loadThumb(icon);
  }
}

async function loadThumb(icon) {
  try {
    const u = await source.thumbUrl(icon.dataset.thumb);
    const img = el("img", { src: u, alt: "", class: "thumb", decoding: "async" });
    img.addEventListener("load", () => icon.replaceChildren(img), { once: true });
  } catch (_) { /* the icon stays */ }
}

async function readme(data, found) {
  const box = $("readme");
  box.hidden = true;
  box.replaceChildren();
  if (found || (share && share.limited)) return;
  const r = data.entries.find((e) => !e.is_dir && /^readme\.md$/i.test(e.name));
  if (!r) return;
  try {
    const md = await source.markdown(entryPath(r));
    box.replaceChildren(el("h2", { class: "readme-title", text: r.name }), ...safeHtml(md.html, state.path));
    box.hidden = false;
  } catch (_) {}
}

// The rendered Markdown, sanitised by the server, copied into new elements through an allow-list: only
// these tags, only these attributes, links only to http(s), mailto or relative places, images only of
// files beside the Markdown (loaded through this origin with the reader's rights), code blocks
// highlighted.
const ALLOWED = {
  P: [], H1: [], H2: [], H3: [], H4: [], H5: [], H6: [], UL: [], OL: ["start"], LI: [], A: ["href", "title"], EM: [],
  STRONG: [], DEL: [], CODE: [], PRE: [], BLOCKQUOTE: [], HR: [], BR: [], TABLE: [], THEAD: [], TBODY: [], TR: [],
  TH: ["align"], TD: ["align"], INPUT: ["type", "checked", "disabled"], IMG: ["title"],
};

/** The tree path a relative reference in a file of folder `base` names (null when it climbs above the
 * top or is not a plain path). */
function beside(base, ref) {
  if (/^[a-z][a-z0-9+.-]*:|^\/\/|[\\?#]/i.test(ref)) return null;
  let path;
  try { path = decodeURIComponent(ref); } catch (_) { return null; }
  const parts = path.startsWith("/") ? [] : base.split("/").filter(Boolean);
  for (const p of path.split("/")) {
    if (!p || p === ".") continue;
    if (p === "..") { if (!parts.length) return null; parts.pop(); } else parts.push(p);
  }
  return "/" + parts.join("/");
}

/** `html` as the page's own elements; `base` is the folder of the Markdown file (for its images). */
function safeHtml(html, base = "/") {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const copy = (n) => {
    if (n.nodeType === Node.TEXT_NODE) return document.createTextNode(n.nodeValue);
    if (n.nodeType !== Node.ELEMENT_NODE) return null;
    const allowed = ALLOWED[n.tagName];
    if (!allowed) return document.createTextNode(n.textContent);
    if (n.tagName === "INPUT" && n.getAttribute("type") !== "checkbox") return null;
    // An image of a file beside this one; where it cannot be (or a share counts its downloads), its words.
    const alt = n.getAttribute("alt") || "";
    const path = n.tagName === "IMG" ? beside(base, n.getAttribute("src") || "") : null;
    if (n.tagName === "IMG" && (!path || (share && share.limited))) return document.createTextNode(alt);
    const out = document.createElement(n.tagName.toLowerCase());
    for (const a of allowed) {
      const v = n.getAttribute(a);
      if (v === null) continue;
      if (a === "href" && !/^(https?:|mailto:|[^:]*$)/i.test(v.trim())) continue;
      out.setAttribute(a, v);
    }
    if (n.tagName === "A") { out.setAttribute("rel", "noopener noreferrer nofollow"); out.setAttribute("target", "_blank"); }
    // A task list's box is named by its item's words, for screen readers.
    if (n.tagName === "INPUT") {
      out.setAttribute("disabled", "");
      out.setAttribute("aria-label", (n.parentNode?.textContent || "").trim() || t("task"));
    }
    if (n.tagName === "IMG") {
      out.setAttribute("alt", alt);
      out.setAttribute("loading", "lazy");
      source.fileUrl(path, true).then((u) => { out.src = u; }, () => out.replaceWith(alt));
      out.addEventListener("error", () => out.replaceWith(alt), { once: true });
      return out;
    }
    // A code block's language (the writer's own class, nothing else) picks its highlighting.
    const language = n.tagName === "CODE" && n.parentNode?.tagName === "PRE" && /^language-([\w+#-]{1,20})$/.exec(n.getAttribute("class") || "");
    if (language) {
      out.append(highlight(n.textContent, language[1]));
      return out;
    }
    for (const c of n.childNodes) { const x = copy(c); if (x) out.append(x); }
    return out;
  };
  return [...doc.body.childNodes].map(copy).filter(Boolean);
}

// ---------------------------------------------------------------------------------------------------
// Syntax highlighting of code (text previews and Markdown code blocks): one pass of one pattern per
// family of languages, written as text nodes and spans (never as markup), bounded in length.

const HIGHLIGHT_MAX = 256 * 1024;

const KEYWORDS = {
  c: "auto break case char const continue default do double else enum extern float for goto if inline int long register return short signed sizeof static struct switch typedef union unsigned void volatile while bool true false NULL nullptr class public private protected virtual template typename namespace using new delete this throw try catch",
  rust: "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while Some None Ok Err",
  js: "async await break case catch class const continue debugger default delete do else export extends false finally for from function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while with yield interface type enum implements readonly",
  py: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield self match case",
  go: "break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var true false nil",
  java: "abstract boolean break byte case catch char class const continue default do double else enum extends final finally float for if implements import instanceof int interface long native new null package private protected public return short static super switch synchronized this throw throws try void volatile while true false var val fun when object override",
  sh: "if then else elif fi case esac for while until do done in function return local export readonly shift exit echo set unset source true false",
  sql: "select from where and or not insert into values update set delete create table index view drop alter add primary key foreign references join left right inner outer on group by order having limit offset as distinct union all null is like in between exists case when then else end begin commit rollback",
  ruby: "alias and begin break case class def defined do else elsif end ensure false for if in module next nil not or redo rescue retry return self super then true undef unless until when while yield require",
  lua: "and break do else elseif end false for function goto if in local nil not or repeat return then true until while",
  php: "abstract array as break case catch class const continue declare default do echo else elseif empty endif extends false final finally for foreach function global if implements include instanceof interface isset list namespace new null private protected public require return static switch throw trait true try unset use var while yield",
  data: "true false null yes no on off",
};

const LANGUAGES = {
  c: ["c", "h", "cc", "cpp", "hpp", "cxx", "c++", "cs", "csharp", "swift", "dart", "scala"], rust: ["rs", "rust"],
  js: ["js", "mjs", "cjs", "jsx", "ts", "tsx", "javascript", "typescript"], py: ["py", "python"], go: ["go", "golang"],
  java: ["java", "kt", "kotlin"], sh: ["sh", "bash", "zsh", "shell", "console", "dockerfile", "makefile", "ps1", "env"],
  sql: ["sql"], ruby: ["rb", "ruby", "pl", "perl", "r"], lua: ["lua"], php: ["php"],
  data: ["json", "yaml", "yml", "toml", "ini", "cfg", "conf"], markup: ["html", "htm", "xml", "svg", "vue"], css: ["css", "scss", "less"],
};

/** The family of a language name or file extension (null: not highlighted). */
function family(name) {
  const n = (name || "").toLowerCase();
  for (const [f, names] of Object.entries(LANGUAGES)) if (names.includes(n)) return f;
  return null;
}

const PATTERNS = {};

/** One pattern per family: comments, strings, numbers, words (keywords among them), markup's tags. */
function patternOf(f) {
  if (PATTERNS[f]) return PATTERNS[f];
  const hashComments = ["py", "sh", "ruby", "data", "php"].includes(f);
  const slashComments = !["py", "sh", "ruby", "data", "sql", "lua", "markup"].includes(f);
  const comment = [
    f === "sql" || f === "lua" ? String.raw`--[^\n]*` : null,
    hashComments ? String.raw`#[^\n]*` : null,
    f === "markup" ? String.raw`<!--[\s\S]*?-->` : null,
    slashComments ? String.raw`//[^\n]*|/\*[\s\S]*?\*/` : null,
  ].filter(Boolean).join("|");
  const quoted = (q) => `${q}(?:\\\\.|[^${q}\\\\\\n])*${q}`;
  const string = {
    py: [String.raw`"""[\s\S]*?"""`, String.raw`'''[\s\S]*?'''`, quoted('"'), quoted("'")],
    rust: [String.raw`"(?:\\.|[^"\\])*"`, String.raw`'(?:\\(?:u\{[\da-fA-F]{1,6}\}|.)|[^'\\\n])'`],
    js: [quoted('"'), quoted("'"), String.raw`\x60(?:\\.|[^\x60\\])*\x60`],
    go: [quoted('"'), String.raw`\x60[^\x60]*\x60`, quoted("'")],
    markup: [String.raw`"[^"\n]*"`, String.raw`'[^'\n]*'`],
  }[f] || [quoted('"'), quoted("'")];
  const number = String.raw`\b(?:0x[\da-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)\b`;
  const tag = f === "markup" ? String.raw`</?[A-Za-z][\w:-]*|/?>` : "(?!)";
  const re = new RegExp(`(${comment || "(?!)"})|(${string.join("|")})|(${number})|([A-Za-z_$][\\w$]*)|(${tag})`, "g");
  return (PATTERNS[f] = { re, words: new Set((KEYWORDS[f] || "").split(" ")), nocase: f === "sql" });
}

/** `code` as text nodes and spans (class `hl-c` comment, `hl-s` string, `hl-n` number, `hl-k`
 * keyword, `hl-t` tag); plain text when the language is unknown or the code too long. */
function highlight(code, language) {
  const f = family(language);
  const out = document.createDocumentFragment();
  if (!f || code.length > HIGHLIGHT_MAX) { out.append(code); return out; }
  const { re, words, nocase } = patternOf(f);
  re.lastIndex = 0;
  let at = 0, m;
  const put = (cls, text) => out.append(el("span", { class: cls, text }));
  while ((m = re.exec(code))) {
    if (m[0] === "") { re.lastIndex++; continue; }
    const word = m[4] && words.has(nocase ? m[0].toLowerCase() : m[0]);
    const cls = m[1] ? "hl-c" : m[2] ? "hl-s" : m[3] ? "hl-n" : word ? "hl-k" : m[5] ? "hl-t" : null;
    if (!cls) continue; // a plain word stays in the text up to the next span
    if (m.index > at) out.append(code.slice(at, m.index));
    put(cls, m[0]);
    at = re.lastIndex;
  }
  out.append(code.slice(at));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Selection and bulk actions

function selectionBar() {
  const n = state.selected.size;
  $("selection").hidden = n === 0;
  const page = n > 0 && state.entries.every((e) => state.selected.has(entryPath(e)));
  $("select-all").checked = page;
  // A page of a bigger folder all picked: say it is a page, and offer the whole folder.
  const more = page && !share && state.search === null && state.total > state.entries.length && n < state.total;
  $("selection-count").textContent = more ? t("selected.page", { n, total: state.total }) : t("selected", { n });
  $("select-folder").hidden = !more;
  $("select-folder").textContent = t("selection.whole", { n: state.total });
}

/** Picks every entry of the folder shown, on every page (the API lists it whole). */
async function selectFolder() {
  if (share || state.search !== null) {
    for (const e of state.entries) state.selected.add(entryPath(e));
  } else {
    status(t("loading"));
    const whole = await api("GET", `/api/fs/list?path=${encodeURIComponent(state.path)}&per_page=0`);
    for (const e of whole.entries) state.selected.add(entryPath(e));
    status(t("entries", { n: whole.total }));
  }
  for (const box of document.querySelectorAll("#entries .pick")) {
    box.checked = true;
    box.closest("li").classList.add("picked");
  }
  selectionBar();
}

function selectedEntries() {
  return [...state.selected];
}

async function download(path, zip) {
  const a = el("a", { href: zip ? await source.zipUrl(path) : await source.fileUrl(path, false), download: "" });
  document.body.append(a);
  a.click();
  a.remove();
}

async function bulkDownload() {
  for (const p of selectedEntries()) {
    const e = state.entries.find((x) => entryPath(x) === p);
    await download(p, !!(e && e.is_dir));
    await new Promise((r) => setTimeout(r, 300)); // browsers drop downloads started at the same instant
  }
}

/** Why `name` cannot name an entry (null when it can). */
function badName(name) {
  if (!name.trim()) return t("name.empty");
  if (name.includes("/")) return t("rename.slash");
  if (name === "." || name === "..") return t("name.dots");
  return null;
}

async function rename(e, full) {
  const to = await askText({ title: t("rename.title", { name: e.name }), label: t("rename.prompt"), value: e.name, ok: t("rename"), check: badName });
  if (!to || to === e.name) return;
  await api("POST", "/api/fs/rename", { from: full, to: join(parentOf(full), to) });
  status(t("rename.done", { name: to }));
  render();
}

async function move(paths) {
  const to = await pickFolder({ title: t("move.title", { n: paths.length }), ok: t("move.here"), moving: paths });
  if (to === null) return;
  let tasks = 0;
  for (const p of paths) {
    const r = await api("POST", "/api/fs/move", { from: p, to: join(to, p.split("/").pop()) });
    if (r && r.state) tasks++;
  }
  state.selected.clear();
  status(tasks ? t("move.background", { n: tasks }) : t("move.done", { to }));
  if (tasks) openPanel(true);
  render();
}

async function copy(paths) {
  const to = await pickFolder({ title: t("copy.title", { n: paths.length }), ok: t("copy.here"), copying: paths });
  if (to === null) return;
  for (const p of paths) await api("POST", "/api/fs/copy", { from: p, to: join(to, p.split("/").pop()) });
  state.selected.clear();
  status(t("copy.background", { n: paths.length }));
  openPanel(true);
  render();
}

async function remove(paths) {
  const names = paths.map((p) => p.split("/").pop());
  const message = paths.length === 1 ? t("delete.confirm", { name: names[0] }) : t("delete.confirm_many", { n: paths.length });
  if (!await askYes({ title: t("delete"), message, ok: t("delete"), danger: true })) return;
  for (const p of paths) await api("POST", "/api/fs/delete", { path: p });
  state.selected.clear();
  status(t("delete.done", { n: paths.length }));
  render();
}

// ---------------------------------------------------------------------------------------------------
// The page's own dialogs: a question, a line of text, a folder

/** Shows the question dialog; resolves with the text typed (or true for a plain question) when
 * confirmed, null when cancelled. `check(value)` names what is wrong with a value, which keeps the
 * dialog open with that said. */
function ask({ title, message = "", label = null, value = "", type = "text", ok, danger = false, check = null }) {
  const dialog = $("ask");
  $("ask-title").textContent = title;
  $("ask-message").textContent = message;
  $("ask-message").hidden = !message;
  $("ask-field").hidden = label === null;
  $("ask-label").textContent = label || "";
  $("ask-input").type = type;
  $("ask-input").autocomplete = type === "password" ? "new-password" : "off";
  $("ask-input").value = value;
  $("ask-error").textContent = "";
  $("ask-ok").textContent = ok;
  $("ask-ok").className = danger ? "primary danger" : "primary";
  return new Promise((resolve) => {
    const done = (answer) => {
      $("ask-form").onsubmit = $("ask-cancel").onclick = dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("ask-form").onsubmit = (ev) => {
      ev.preventDefault();
      if (label === null) return done(true);
      const v = type === "password" ? $("ask-input").value : $("ask-input").value.trim();
      const wrong = check && check(v);
      if (wrong) {
        $("ask-error").textContent = wrong;
        $("ask-input").setAttribute("aria-invalid", "true");
        $("ask-input").focus();
        return;
      }
      done(v);
    };
    $("ask-cancel").onclick = () => done(null);
    dialog.onclose = () => done(null);
    $("ask-input").removeAttribute("aria-invalid");
    dialog.showModal();
    if (label === null) (danger ? $("ask-cancel") : $("ask-ok")).focus();
    else {
      // A name's stem chosen, as file managers do: typing replaces it and keeps the extension.
      const input = $("ask-input");
      input.focus();
      const dot = value.lastIndexOf(".");
      input.setSelectionRange(0, dot > 0 ? dot : value.length);
    }
  });
}

/** A line of text, or null. */
function askText(o) { return ask({ ...o, label: o.label || "" }); }

/** Yes (true) or no (false). */
async function askYes(o) { return (await ask({ ...o, label: null })) === true; }

/**
 * A folder chosen by browsing, or null: starts in the folder shown, lists only folders (the whole
 * folder, as the API gives it), can make one, and refuses a place the items cannot go — into
 * themselves, where they already are (for a move), or a folder where nothing can be written.
 */
function pickFolder({ title, ok, moving = [], copying = [], start = state.path, writable = true }) {
  const dialog = $("picker");
  const items = moving.length ? moving : copying;
  let at = start;
  let loaded = 0;
  $("picker-title").textContent = title;
  $("picker-ok").textContent = ok;
  $("picker-new").hidden = !writable;
  const why = (folder, canWrite) => {
    if (items.some((p) => folder === p || folder.startsWith(p + "/"))) return t("picker.into_itself");
    if (moving.length && moving.every((p) => parentOf(p) === folder)) return t("picker.already_here");
    if (writable && !canWrite) return t("picker.read_only");
    return "";
  };
  const show = async (folder) => {
    const mine = ++loaded;
    $("picker-hint").textContent = t("loading");
    $("picker-ok").disabled = true;
    let r;
    try {
      r = await source.listWhole(folder);
    } catch (e) {
      if (mine === loaded) $("picker-hint").textContent = e.message;
      return;
    }
    if (mine !== loaded) return;
    at = folder;
    const crumbs = [["/", "/"]];
    let acc = "";
    for (const part of folder.split("/").filter(Boolean)) { acc += "/" + part; crumbs.push([acc, part]); }
    $("picker-crumbs").replaceChildren(...crumbs.flatMap(([p, name], i) => [
      i ? el("span", { class: "sep", text: "›", "aria-hidden": "true" }) : null,
      el("button", { type: "button", class: "link", text: name, "aria-current": p === folder ? "location" : null, onclick: () => show(p) }),
    ].filter(Boolean)));
    const order = new Intl.Collator(locale(), { numeric: true, sensitivity: "base" });
    const dirs = r.entries.filter((e) => e.is_dir).sort((a, b) => order.compare(a.name, b.name));
    const list = dirs.map((e) => {
      const p = join(folder, e.name);
      const off = items.some((x) => x === p);
      // The listing's icons: a folder, or the kind of remote of a mount point.
      const kind = e.mount ? "mount " + (REMOTES.includes(e.remote) ? e.remote : "remote") : "dir";
      return el("li", { class: "entry " + kind }, el("button", {
        type: "button", class: "folder", disabled: off, "data-path": p, onclick: () => show(p),
      }, el("span", { class: "icon", "aria-hidden": "true" }), el("span", { text: e.name })));
    });
    if (folder !== "/") list.unshift(el("li", {}, el("button", { type: "button", class: "folder up", onclick: () => show(parentOf(folder)) }, el("span", { text: "↑ " + t("picker.up") }))));
    $("picker-list").replaceChildren(...list);
    if (!dirs.length) $("picker-list").append(el("li", { class: "hint", text: t("picker.no_folders") }));
    const wrong = why(folder, !!r.writable);
    $("picker-hint").textContent = wrong || t("picker.target", { path: folder });
    $("picker-ok").disabled = !!wrong;
    $("picker-new").disabled = !r.writable;
    $("picker-list").querySelector("button:not([disabled])")?.focus();
  };
  return new Promise((resolve) => {
    const done = (answer) => {
      $("picker-form").onsubmit = $("picker-cancel").onclick = $("picker-new").onclick = dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("picker-form").onsubmit = (ev) => { ev.preventDefault(); if (!$("picker-ok").disabled) done(at); };
    $("picker-cancel").onclick = () => done(null);
    dialog.onclose = () => done(null);
    $("picker-new").onclick = async () => {
      // The question dialog on top of this one; back here after it.
      const name = await askText({ title: t("new_folder"), label: t("new_folder.prompt"), ok: t("create"), check: badName });
      if (!dialog.open) dialog.showModal();
      if (!name) return;
      try {
        await api("POST", "/api/fs/mkdir", { path: join(at, name) });
        await show(join(at, name));
      } catch (e) { $("picker-hint").textContent = e.message; }
    };
    $("picker-list").replaceChildren();
    dialog.showModal();
    show(start);
  });
}

// ---------------------------------------------------------------------------------------------------
// Previews: images in a lightbox (next and previous by button, key or swipe), players, text, Markdown, PDF

let viewing = -1;

function previewable(e) {
  return e && !e.is_dir;
}

/** The subtitle files beside a video: `NAME.srt`, `NAME.vtt`, or with a language, `NAME.en.srt`. */
function subtitlesOf(e) {
  const stem = e.name.replace(/\.[^.]+$/, "").toLowerCase();
  return state.entries.filter((x) => {
    if (x.is_dir) return false;
    const m = /^(.*?)(\.([\w-]{1,12}))?\.(srt|vtt)$/i.exec(x.name);
    return m && (m[1].toLowerCase() === stem || (m[1] + (m[2] || "")).toLowerCase() === stem);
  });
}

/** The player for a video, with the subtitles beside it as tracks (the server turns SubRip into
 * WebVTT), and links that open the same file in a desktop or phone player. */
async function video(e, url) {
  const player = el("video", { id: "viewer-video", src: url, controls: true, preload: "metadata", playsinline: true });
  const found = subtitlesOf(e).map((s) => ({ s, code: (/\.([a-z]{2,3}(?:-[a-z0-9]+)?)\.(srt|vtt)$/i.exec(s.name) || [])[1] }));
  // Shown at first: the page's language, else one without a language in its name, else the first.
  const shownFirst = found.find((x) => x.code && x.code.toLowerCase().startsWith(lang)) || found.find((x) => !x.code) || found[0];
  for (const { s, code } of found) {
    const src = await source.fileUrl(entryPath(s), false);
    player.append(el("track", {
      kind: "subtitles", src: src + (src.includes("?") ? "&" : "?") + "vtt=true", label: code || s.name,
      srclang: code, default: s === shownFirst?.s,
    }));
  }
  // Outside players get a link they can fetch without a header: the download ticket's (or the share's).
  const raw = new URL(await source.fileUrl(entryPath(e), false), location.href).href;
  const players = [
    ["VLC", "vlc://" + raw],
    ["IINA", "iina://weblink?url=" + encodeURIComponent(raw)],
    ["mpv", "mpv://" + raw],
    ["Infuse", "infuse://x-callback-url/play?url=" + encodeURIComponent(raw)],
  ];
  const links = el("p", { class: "players" }, el("span", { text: t("viewer.open_in") }),
    ...players.map(([name, href]) => el("a", { href, text: name, rel: "noopener noreferrer" })));
  return el("div", { class: "video" }, player, links);
}

/** The entries of the page a viewer of `kind` steps through (its photos, or its tracks). */
function siblings(kind) {
  return state.entries.map((e, i) => [e, i]).filter(([e]) => !e.is_dir && kindOf(e.name) === kind).map(([, i]) => i);
}

/** The audio player with the folder's other tracks as a playlist: a click plays one, the end of one
 * plays the next. */
function audio(e, url) {
  const player = el("audio", { id: "viewer-audio", src: url, controls: true, preload: "metadata", autoplay: true });
  player.addEventListener("ended", () => step(1, false));
  const tracks = siblings("audio");
  const list = el("ol", { class: "playlist", "aria-label": t("viewer.playlist") }, ...tracks.map((i) => {
    const x = state.entries[i];
    return el("li", {}, el("button", { type: "button", class: "track", "aria-current": i === viewing ? "true" : null, onclick: () => open(i) },
      el("span", { class: "name", text: x.name }), el("span", { class: "hint", text: human(x.size) })));
  }));
  return el("div", { class: "audio" }, el("p", { class: "now", text: e.name }), player, tracks.length > 1 ? list : null);
}

// The photo viewer's zoom: scale and offset of the image, changed by wheel, pinch, double-click, keys
// and buttons; dragging pans a zoomed photo; at scale 1 a swipe goes to the next one.
const zoom = { s: 1, x: 0, y: 0 };

function applyZoom() {
  const img = $("viewer-img");
  zoom.s = Math.min(8, Math.max(1, zoom.s));
  if (zoom.s === 1) { zoom.x = 0; zoom.y = 0; }
  if (img) img.style.transform = `translate(${zoom.x}px, ${zoom.y}px) scale(${zoom.s})`;
  $("viewer").classList.toggle("zoomed", zoom.s > 1);
  $("viewer-zoom").textContent = new Intl.NumberFormat(locale(), { style: "percent" }).format(zoom.s);
}

/** Zooms by `factor` around the point (cx, cy) of the window (the middle of the photo when not given). */
function zoomBy(factor, cx, cy) {
  const box = $("viewer-body").getBoundingClientRect();
  const px = (cx ?? box.left + box.width / 2) - (box.left + box.width / 2);
  const py = (cy ?? box.top + box.height / 2) - (box.top + box.height / 2);
  const s = Math.min(8, Math.max(1, zoom.s * factor));
  const k = s / zoom.s;
  zoom.x = px - (px - zoom.x) * k;
  zoom.y = py - (py - zoom.y) * k;
  zoom.s = s;
  applyZoom();
}

/** The EXIF panel of a photo: camera, lens, exposure, date taken and, to its owner, the place. */
async function photoInfo(full) {
  const box = $("viewer-exif");
  box.replaceChildren(el("p", { class: "hint", text: t("loading") }));
  let x;
  try { x = await source.exif(full); } catch (e) { box.replaceChildren(el("p", { class: "hint", text: e.message })); return; }
  if (viewing < 0 || entryPath(state.entries[viewing]) !== full) return;
  const rows = [];
  const row = (key, value) => { if (value) rows.push(el("dt", { text: t(key) }), el("dd", {}, value)); };
  row("exif.camera", x.camera);
  row("exif.lens", x.lens);
  if (x.taken) row("exif.taken", new Date(x.taken).toLocaleString(locale(), { dateStyle: "long", timeStyle: "short" }));
  row("exif.exposure", [x.exposure, x.aperture, x.iso ? "ISO " + x.iso : null, x.focal_length].filter(Boolean).join(" · "));
  if (x.location) {
    const [lat, lon] = x.location.map((v) => Math.round(v * 1e5) / 1e5);
    const f = new Intl.NumberFormat(locale(), { maximumFractionDigits: 5 });
    row("exif.place", el("a", { id: "exif-place", href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=15/${lat}/${lon}`,
      rel: "noopener noreferrer", target: "_blank", text: `${f.format(lat)}, ${f.format(lon)}` }));
  } else if (x.has_location) {
    row("exif.place", t(share ? "exif.place_shared" : "exif.place_owner"));
  }
  box.replaceChildren(rows.length ? el("dl", {}, ...rows) : el("p", { class: "hint", text: t("exif.none") }));
}

async function open(index) {
  const e = state.entries[index];
  if (!previewable(e)) return;
  viewing = index;
  const full = entryPath(e);
  const kind = kindOf(e.name);
  const body = $("viewer-body");
  body.replaceChildren(el("p", { text: t("loading") }));
  $("viewer-name").textContent = e.name;
  const dialog = $("viewer");
  const wasOpen = dialog.open;
  dialog.dataset.kind = kind;
  if (!wasOpen) dialog.showModal();
  const all = kind === "image" || kind === "audio" ? siblings(kind) : [];
  $("viewer-prev").hidden = $("viewer-next").hidden = $("viewer-count").hidden = all.length < 2;
  $("viewer-count").textContent = t("viewer.count", { i: all.indexOf(index) + 1, n: all.length });
  for (const id of ["viewer-zoom-out", "viewer-zoom", "viewer-zoom-in", "viewer-info"]) $(id).hidden = kind !== "image";
  $("viewer-exif").hidden = kind !== "image" || localStorage.getItem("cloudmux-exif") !== "shown";
  $("viewer-info").setAttribute("aria-pressed", String(!$("viewer-exif").hidden));
  // First the way out, never "previous": a keyboard user's next Tab reaches the rest.
  if (!wasOpen) $("viewer-close").focus();
  Object.assign(zoom, { s: 1, x: 0, y: 0 });
  applyZoom();
  try {
    $("viewer-download").href = await source.fileUrl(full, false);
    const url = await source.fileUrl(full, true);
    let shown;
    if (kind === "image") {
      shown = el("img", { id: "viewer-img", src: url, alt: e.name, draggable: "false" });
      if (!$("viewer-exif").hidden) photoInfo(full);
    } else if (kind === "video") shown = await video(e, url);
    else if (kind === "audio") shown = audio(e, url);
    else if (kind === "pdf") shown = el("iframe", { id: "viewer-pdf", src: url, title: e.name });
    else if (kind === "markdown") {
      const md = await source.markdown(full);
      shown = el("article", { class: "markdown" }, ...safeHtml(md.html, parentOf(full)));
    } else if (kind === "text" || (e.mime || "").startsWith("text/")) {
      const r = await fetch(url, { headers: { Range: `bytes=0-${TEXT_PREVIEW_BYTES - 1}` } });
      if (!r.ok) throw new Error(String(r.status));
      const text = new TextDecoder().decode(await r.arrayBuffer());
      const ext = /\.([^./]+)$/.exec(e.name.toLowerCase())?.[1] || e.name.toLowerCase();
      shown = el("pre", { id: "viewer-text", tabindex: "0" }, highlight((e.size || 0) > TEXT_PREVIEW_BYTES ? text + "\n…" : text, ext));
    } else {
      shown = el("p", { class: "hint", text: t("viewer.none") });
    }
    if (viewing === index) body.replaceChildren(shown);
  } catch (x) {
    body.replaceChildren(el("p", { class: "error", text: x.message }));
  }
}

/** The next (d = 1) or previous (-1) photo or track; `wrap` goes round at the ends. */
function step(d, wrap = true) {
  if (viewing < 0) return;
  const all = siblings(kindOf(state.entries[viewing].name));
  const at = all.indexOf(viewing);
  if (at < 0 || all.length < 2) return;
  const next = at + d;
  if (!wrap && (next < 0 || next >= all.length)) return;
  open(all[(next + all.length) % all.length]);
}

function closeViewer() {
  viewing = -1;
  $("viewer-body").replaceChildren(); // stops players
  if ($("viewer").open) $("viewer").close();
}

// ---------------------------------------------------------------------------------------------------
// Search

async function search(q) {
  if (!q) return render();
  show("files-view");
  status(t("search.searching", { q }));
  try {
    const r = await api("GET", `/api/fs/search?path=${encodeURIComponent(state.path)}&q=${encodeURIComponent(q)}&limit=500`);
    state.search = q;
    // Folders first, then by name as the reader's language sorts, then by where they are.
    const order = new Intl.Collator(locale(), { numeric: true, sensitivity: "base" });
    const results = [...r.results].sort((a, b) => (b.is_dir - a.is_dir) || order.compare(a.name, b.name) || order.compare(a.path, b.path));
    fill({ entries: results, total: results.length }, q);
    if (!r.complete) status(t("search.partial", { n: r.results.length, q }));
  } catch (e) {
    status(e.message, true);
  }
}

// ---------------------------------------------------------------------------------------------------
// Uploads: a queue, three at a time, each with its progress and a cancel button

const uploadQueue = [];
let uploading = 0;

function upload(files) {
  const dir = state.path;
  for (const f of files) {
    const bar = el("progress", { max: "100", value: "0", "aria-label": f.name });
    const info = el("span", { class: "hint", text: t("upload.waiting") });
    const job = { f, dir, bar, info, xhr: null, cancelled: false };
    const cancel = el("button", { type: "button", text: t("cancel"), "aria-label": t("upload.cancel", { name: f.name }), onclick: () => {
      job.cancelled = true;
      if (job.xhr) job.xhr.abort();
      info.textContent = t("upload.cancelled");
      cancel.remove();
    } });
    job.line = el("li", { class: "upload", "data-name": f.name }, el("span", { class: "name", text: f.name }), bar, info, cancel);
    job.cancel = cancel;
    $("uploads").append(job.line);
    uploadQueue.push(job);
  }
  if ($("tasks-panel").hidden) { openPanel(true); panelForUploads = true; }
  pump();
}

// The panel opened by uploads closes itself once they are over (a failed one keeps it open).
let panelForUploads = false;

function pump() {
  while (uploading < 3 && uploadQueue.length) {
    const job = uploadQueue.shift();
    if (job.cancelled) continue;
    uploading++;
    const x = new XMLHttpRequest();
    job.xhr = x;
    x.open("PUT", `/api/fs/upload?path=${encodeURIComponent(join(job.dir, job.f.name))}`);
    x.setRequestHeader("Authorization", "Bearer " + token);
    x.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      job.bar.value = (100 * ev.loaded) / ev.total;
      job.info.textContent = `${human(ev.loaded)} / ${human(ev.total)}`;
    };
    x.onloadend = () => {
      uploading--;
      if (x.status === 201) {
        job.bar.value = 100;
        job.info.textContent = t("upload.done");
        job.cancel.remove();
        setTimeout(() => job.line.remove(), 4000);
      } else if (!job.cancelled) {
        let msg = `${x.status}`;
        try { msg = new ApiFailure(x.status, JSON.parse(x.responseText)).message; } catch (_) {}
        job.info.textContent = msg;
        job.info.className = "error";
        job.cancel.remove();
      }
      if (job.dir === state.path && !uploadQueue.some((j) => j.dir === state.path)) render();
      pump();
      if (uploading === 0 && !uploadQueue.length && panelForUploads && !document.querySelector("#uploads .error")) {
        setTimeout(() => { if (panelForUploads && uploading === 0) openPanel(false); }, 2500);
      }
    };
    job.info.textContent = t("upload.sending");
    x.send(job.f);
  }
}

// ---------------------------------------------------------------------------------------------------
// Background tasks

let taskTimer = null;

function openPanel(show) {
  panelForUploads = false;
  $("tasks-panel").hidden = !show;
  $("nav-tasks").setAttribute("aria-expanded", String(show));
  if (show) refreshTasks(true);
}

async function refreshTasks(keepGoing) {
  if (!me) return;
  clearTimeout(taskTimer);
  let r;
  try { r = await api("GET", "/api/tasks"); } catch (_) { return; }
  const live = r.tasks.filter((x) => x.state === "running" || x.state === "queued");
  $("tasks-count").textContent = live.length ? String(live.length) : "";
  $("tasks").replaceChildren(...r.tasks.map((x) => {
    const p = x.progress || {};
    const pct = p.bytes_planned ? Math.floor((100 * p.bytes_done) / p.bytes_planned) : (x.state === "done" ? 100 : 0);
    const line = el("li", { class: "task " + x.state, "data-id": x.id },
      el("span", { class: "name", text: `${tr("task." + x.kind)}: ${x.from} → ${x.to}` }),
      el("progress", { max: "100", value: String(pct), "aria-label": x.from }),
      el("span", { class: "hint", text: `${tr("state." + x.state)} · ${x.kind === "bisync" ? t("task.passes", { n: p.passes || 0, done: p.files_done || 0 }) : t("task.files", { done: p.files_done || 0, planned: p.files_planned || 0 })}${p.files_failed ? " · " + t("task.failed", { n: p.files_failed }) : ""}` }));
    if (x.state === "running" || x.state === "queued") {
      line.append(el("button", { type: "button", text: t("cancel"), onclick: async () => {
        try { await api("DELETE", `/api/tasks/${encodeURIComponent(x.id)}`); } catch (e) { status(e.message, true); }
        refreshTasks(true);
      } }));
    }
    if (p.last_error) line.append(el("span", { class: "error", text: p.last_error }));
    for (const err of (x.errors || []).slice(0, 3)) line.append(el("span", { class: "error", text: Array.isArray(err) ? err.filter(Boolean).join(": ") : String(err) }));
    return line;
  }));
  if (!r.tasks.length) $("tasks").replaceChildren(el("li", { class: "hint", text: t("tasks.none") }));
  // A two-way sync runs until cancelled: it alone keeps the list refreshing only while the panel is open.
  const moving = live.filter((x) => x.kind !== "bisync");
  if (moving.length || (keepGoing && !$("tasks-panel").hidden)) taskTimer = setTimeout(() => refreshTasks(!$("tasks-panel").hidden), 2000);
}

// ---------------------------------------------------------------------------------------------------
// Share links

let sharing = null;

function shareDialog(path) {
  sharing = path;
  $("share-form").reset();
  for (const f of $("share-form").querySelectorAll("[name]")) f.disabled = false;
  $("share-copy").textContent = t("share.copy");
  $("share-choose").disabled = false;
  $("share-path").textContent = path;
  $("share-result").hidden = true;
  $("share-error").textContent = "";
  $("share-create").hidden = false;
  $("share-dialog").showModal();
}

async function createShare() {
  const f = new FormData($("share-form"));
  const body = { path: sharing };
  if (f.get("password")) body.password = f.get("password");
  if (f.get("expires_in")) body.expires_in = Number(f.get("expires_in"));
  if (Number(f.get("max_downloads")) > 0) body.max_downloads = Number(f.get("max_downloads"));
  try {
    const r = await api("POST", "/api/shares", body);
    $("share-url").value = location.origin + r.share.url;
    $("share-result").hidden = false;
    $("share-create").hidden = true;
    // The link is made with these settings: they no longer change anything, so they cannot be edited.
    for (const f of $("share-form").querySelectorAll("[name]")) f.disabled = true;
    $("share-choose").disabled = true;
    $("share-url").select();
  } catch (e) {
    $("share-error").textContent = e.message;
  }
}

/** Copies `text`, saying so on `button` (or selects nothing and says nothing where the browser refuses). */
async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = t("share.copied");
  } catch (_) {
    status(text);
  }
}

/** Revokes a share on a second press of its button (the first asks, for five seconds): a revoked link
 * cannot be brought back. */
async function revokeShare(s, button) {
  if (!button.dataset.sure) {
    button.dataset.sure = "1";
    button.textContent = t("share.revoke_sure");
    button.classList.add("danger");
    setTimeout(() => {
      if (!button.isConnected) return;
      delete button.dataset.sure;
      button.textContent = t("share.revoke");
      button.classList.remove("danger");
    }, 5000);
    return;
  }
  try { await api("DELETE", `/api/shares/${encodeURIComponent(s.id)}`); } catch (e) { $("shares-error").textContent = e.message; }
  renderShares();
}

async function renderShares() {
  show("shares-view");
  $("shares-all-label").hidden = !me.is_admin;
  $("shares-error").textContent = "";
  try {
    const r = await api("GET", "/api/shares" + ($("shares-all").checked ? "?all=true" : ""));
    $("shares").tBodies[0].replaceChildren(...r.shares.map((s) => el("tr", { "data-id": s.id },
      el("td", { text: (s.owner !== me.name ? s.owner + ": " : "") + s.path }),
      el("td", {}, el("a", { href: s.url, text: location.origin + s.url, target: "_blank", rel: "noopener" }), " ",
        el("button", { type: "button", class: "copy", text: t("share.copy"), "aria-label": t("share.copy_link", { path: s.path }), onclick: (ev) => copyText(location.origin + s.url, ev.currentTarget) })),
      el("td", { text: tr("share.state." + s.state) + (s.password ? " · " + t("share.with_password") : "") }),
      el("td", { class: "num", text: s.max_downloads ? `${s.downloads} / ${s.max_downloads}` : String(s.downloads) }),
      el("td", { text: s.expires ? when(s.expires) : t("share.never") }),
      el("td", {}, s.state === "live" ? el("button", { type: "button", class: "revoke", text: t("share.revoke"), onclick: (ev) => revokeShare(s, ev.currentTarget) }) : ""))));
    if (!r.shares.length) $("shares").tBodies[0].replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "hint", text: t("shares.none") })));
  } catch (e) {
    $("shares-error").textContent = e.message;
  }
}

// ---------------------------------------------------------------------------------------------------
// Admin

let backends = [];

async function renderAdmin() {
  show("admin-view");
  $("admin-error").textContent = "";
  try {
    const [users, mounts, remotes, kinds] = await Promise.all([
      api("GET", "/api/admin/users"), api("GET", "/api/admin/mounts"), api("GET", "/api/admin/remotes"),
      api("GET", "/api/admin/backends"),
    ]);
    backends = kinds.backends;
    const chosen = $("kind-select").value;
    $("kind-select").replaceChildren(...backends.map((b) => el("option", { value: b.kind, text: `${b.kind}: ${b.about}` })));
    if (chosen) $("kind-select").value = chosen;
    remoteOptions();
    const yes = (b) => (b ? t("yes") : "");
    const button = (key, fn) => el("button", { type: "button", text: t(key), onclick: () => adminDo(fn) });
    $("users").tBodies[0].replaceChildren(...users.users.map((u) => el("tr", {},
      el("td", { text: u.name }), el("td", { text: u.base_path }), el("td", { text: yes(u.can_write) }), el("td", { text: yes(u.is_admin) }),
      el("td", { class: "actions" },
        button("admin.set_password", async () => {
          const p = await askText({ title: t("admin.set_password"), label: t("admin.new_password", { name: u.name }), ok: t("admin.set_password"),
            type: "password", check: (v) => (v.length < 8 ? t("admin.password_short") : null) });
          if (p) await api("PATCH", `/api/admin/users/${encodeURIComponent(u.name)}`, { password: p });
        }),
        button("admin.remove", async () => {
          if (await askYes({ title: t("admin.remove"), message: t("admin.remove_user", { name: u.name }), ok: t("admin.remove"), danger: true })) await api("DELETE", `/api/admin/users/${encodeURIComponent(u.name)}`);
        })))));
    $("mounts").tBodies[0].replaceChildren(...mounts.mounts.map((m) => el("tr", { "data-path": m.path },
      el("td", { text: m.path }), el("td", { text: m.remote }), el("td", { text: m.root }), el("td", { text: yes(m.read_only) }),
      el("td", { text: yes(m.direct_links) }), el("td", { text: yes(m.guest) }), el("td", { text: yes(m.active) }),
      el("td", { class: "actions" }, button("admin.unmount", async () => {
        if (await askYes({ title: t("admin.unmount"), message: t("admin.unmount_confirm", { path: m.path }), ok: t("admin.unmount"), danger: true })) await api("DELETE", `/api/admin/mounts?path=${encodeURIComponent(m.path)}`);
      })))));
    $("remotes").tBodies[0].replaceChildren(...remotes.remotes.map((r) => el("tr", { "data-name": r.name },
      el("td", { text: r.name }), el("td", { text: r.kind }),
      el("td", { class: "actions" }, signInStyle(r.kind) === "none" ? "" : el("button", { type: "button", text: t("admin.sign_in"), onclick: () => signIn(r.name) })))));
    $("remote-select").replaceChildren(...remotes.remotes.map((r) => el("option", { value: r.name, text: `${r.name} (${r.kind})` })));
  } catch (e) {
    $("admin-error").textContent = e.message;
  }
}

function signInStyle(kind) {
  const b = backends.find((x) => x.kind === kind);
  return b ? b.sign_in : "none";
}

// The add-remote form's fields: the options of the chosen kind, each with its help as placeholder.
function remoteOptions() {
  const b = backends.find((x) => x.kind === $("kind-select").value);
  $("remote-options").replaceChildren(...(b ? b.options : []).map((o) => el("input", {
    name: o.name, placeholder: o.help, "aria-label": o.name, title: o.help,
    type: o.kind === "secret" ? "password" : "text", required: o.required ? true : undefined,
  })));
}

// A consent flow (Google): open the consent page, which comes back to the server's callback; a device flow
// (Yandex): show the code, and ask the server how the sign-in stands until it is done.
async function signIn(name) {
  const out = $("signin-status");
  out.textContent = "";
  let r;
  try { r = await api("POST", `/api/admin/remotes/${encodeURIComponent(name)}/signin`); } catch (e) { out.textContent = e.message; return; }
  if (r.flow === "consent") {
    window.open(r.url, "_blank", "noopener");
    out.textContent = t("admin.consent", { name, uri: r.redirect_uri });
    return;
  }
  out.replaceChildren(el("span", { text: t("admin.device_open") + " " }), el("a", { href: r.verification_url, target: "_blank", rel: "noopener", text: r.verification_url }),
    el("span", { text: " " + t("admin.device_code") + " " }), el("strong", { id: "user-code", text: r.user_code }));
  for (let i = 0; i < r.expires_in; i += 2) {
    await new Promise((res) => setTimeout(res, 2000));
    let s;
    try { s = await api("GET", `/api/admin/remotes/${encodeURIComponent(name)}/signin`); } catch (e) { out.textContent = e.message; return; }
    if (s.state === "done") { out.textContent = t("admin.signed_in", { name }); return; }
    if (s.state === "failed") { out.textContent = t("admin.signin_failed", { name, error: s.error }); return; }
  }
  out.textContent = t("admin.code_expired", { name });
}

async function adminDo(fn) {
  try { await fn(); } catch (e) { $("admin-error").textContent = e.message; return; }
  renderAdmin();
}

// ---------------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $("theme").value = theme();
  $("theme").addEventListener("change", () => {
    localStorage.setItem("cloudmux-theme", $("theme").value);
    applyTheme();
  });
  $("lang").addEventListener("change", async () => {
    localStorage.setItem("cloudmux-lang", $("lang").value);
    await loadStrings($("lang").value);
    render();
  });
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    $("login-error").textContent = "";
    try {
      const r = await api("POST", "/api/auth/login", { username: f.get("username"), password: f.get("password") });
      token = r.token;
      me = r.user;
      guest = false;
      sessionStorage.setItem("cloudmux-token", token);
      ev.target.reset();
      if (location.hash === "#login") location.hash = "#/";
      render();
    } catch (e) {
      $("login-error").textContent = e.status === 401 || e.status === 403 ? t("signin.wrong") : e.message;
    }
  });
  $("unlock-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("unlock-error").textContent = "";
    try {
      const r = await api("POST", `/api/s/${share.id}/unlock`, { password: new FormData(ev.target).get("password") });
      share.key = r.key;
      if (r.key) sessionStorage.setItem("cloudmux-share-" + share.id, r.key);
      ev.target.reset();
      render();
    } catch (e) {
      $("unlock-error").textContent = e.status === 403 ? t("share.wrong_password") : e.message;
      ev.target.reset();
    }
  });
  $("signin").addEventListener("click", () => { guest = false; show("login-view"); });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/auth/logout"); } catch (_) {}
    signOut();
  });
  $("upload-input").addEventListener("change", (ev) => { upload([...ev.target.files]); ev.target.value = ""; });
  $("new-folder").addEventListener("click", async () => {
    const name = await askText({ title: t("new_folder"), label: t("new_folder.prompt"), ok: t("create"), check: badName });
    if (!name) return;
    try {
      await api("POST", "/api/fs/mkdir", { path: join(state.path, name) });
      render();
    } catch (e) { status(e.message, true); }
  });
  $("zip-folder").addEventListener("click", () => download(state.path, true).catch((e) => status(e.message, true)));
  $("share-download").addEventListener("click", () => download("/", false).catch((e) => status(e.message, true)));
  $("sort").addEventListener("change", () => { state.sort = $("sort").value; state.page = 1; render(); });
  $("order").addEventListener("click", () => {
    state.order = state.order === "asc" ? "desc" : "asc";
    $("order").textContent = state.order === "asc" ? "↑" : "↓";
    render();
  });
  $("view-list").addEventListener("click", () => { setView("list", true); });
  $("view-grid").addEventListener("click", () => { setView("grid", true); lazyThumbs(); });
  $("select-all").addEventListener("change", () => {
    for (const e of state.entries) if ($("select-all").checked) state.selected.add(entryPath(e)); else state.selected.delete(entryPath(e));
    for (const c of document.querySelectorAll("#entries .pick")) c.checked = $("select-all").checked;
    selectionBar();
  });
  $("bulk-download").addEventListener("click", () => bulkDownload().catch((e) => status(e.message, true)));
  $("bulk-move").addEventListener("click", () => move(selectedEntries()).catch((e) => status(e.message, true)));
  $("bulk-copy").addEventListener("click", () => copy(selectedEntries()).catch((e) => status(e.message, true)));
  $("bulk-delete").addEventListener("click", () => remove(selectedEntries()).catch((e) => status(e.message, true)));
  $("bulk-clear").addEventListener("click", () => { state.selected.clear(); render(); });
  $("select-folder").addEventListener("click", () => selectFolder().catch((e) => status(e.message, true)));
  // The list by keyboard: arrows move between entries, Enter opens (the entry's own link), Delete
  // deletes the selection (or the entry), F2 renames, Ctrl/Cmd+A picks the whole folder.
  $("entries").addEventListener("keydown", (ev) => {
    const li = ev.target.closest("li.entry");
    if (!li || ev.target.matches("input:not(.pick), select, textarea")) return;
    const rows = [...document.querySelectorAll("#entries li.entry")];
    const at = rows.indexOf(li);
    const focusRow = (i) => rows[Math.max(0, Math.min(rows.length - 1, i))]?.querySelector("a.name")?.focus();
    const e = state.entries.find((x) => entryPath(x) === li.dataset.path);
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      focusRow(at + (ev.key === "ArrowDown" ? 1 : -1));
    } else if (ev.key === "Home" || ev.key === "End") {
      ev.preventDefault();
      focusRow(ev.key === "Home" ? 0 : rows.length - 1);
    } else if (ev.key === "Delete" && state.writable && e && !e.mount) {
      ev.preventDefault();
      remove(state.selected.size ? selectedEntries() : [li.dataset.path]).catch((x) => status(x.message, true));
    } else if (ev.key === "F2" && state.writable && e && !e.mount) {
      ev.preventDefault();
      rename(e, li.dataset.path).catch((x) => status(x.message, true));
    } else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "a") {
      ev.preventDefault();
      selectFolder().catch((x) => status(x.message, true));
    }
  });
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search($("search-input").value.trim()); });
  $("nav-tasks").addEventListener("click", () => openPanel($("tasks-panel").hidden));
  $("tasks-close").addEventListener("click", () => openPanel(false));
  $("viewer-close").addEventListener("click", closeViewer);
  $("viewer-prev").addEventListener("click", () => step(-1));
  $("viewer-next").addEventListener("click", () => step(1));
  $("viewer").addEventListener("close", () => { viewing = -1; $("viewer-body").replaceChildren(); });
  $("viewer").addEventListener("keydown", (ev) => {
    if (ev.target.matches("input, select, textarea, audio, video") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const photo = $("viewer").dataset.kind === "image";
    const zoomed = photo && zoom.s > 1;
    if (ev.key === "ArrowRight" && !zoomed) { ev.preventDefault(); step(1); }
    else if (ev.key === "ArrowLeft" && !zoomed) { ev.preventDefault(); step(-1); }
    else if (photo && (ev.key === "+" || ev.key === "=")) { ev.preventDefault(); zoomBy(1.5); }
    else if (photo && ev.key === "-") { ev.preventDefault(); zoomBy(1 / 1.5); }
    else if (photo && ev.key === "0") { ev.preventDefault(); zoom.s = 1; applyZoom(); }
    else if (photo && ev.key.toLowerCase() === "i") { ev.preventDefault(); $("viewer-info").click(); }
    else if (zoomed && ev.key.startsWith("Arrow")) {
      // A zoomed photo: the arrows move it.
      ev.preventDefault();
      zoom.x += ev.key === "ArrowLeft" ? 60 : ev.key === "ArrowRight" ? -60 : 0;
      zoom.y += ev.key === "ArrowUp" ? 60 : ev.key === "ArrowDown" ? -60 : 0;
      applyZoom();
    }
  });
  $("viewer-zoom-in").addEventListener("click", () => zoomBy(1.5));
  $("viewer-zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
  $("viewer-zoom").addEventListener("click", () => { zoom.s = 1; applyZoom(); });
  $("viewer-info").addEventListener("click", () => {
    const shown = $("viewer-exif").hidden;
    $("viewer-exif").hidden = !shown;
    $("viewer-info").setAttribute("aria-pressed", String(shown));
    localStorage.setItem("cloudmux-exif", shown ? "shown" : "hidden");
    if (shown && viewing >= 0) photoInfo(entryPath(state.entries[viewing]));
  });
  const viewerBody = $("viewer-body");
  const photo = () => $("viewer").dataset.kind === "image" && $("viewer-img");
  viewerBody.addEventListener("wheel", (ev) => {
    if (!photo()) return;
    ev.preventDefault();
    zoomBy(Math.exp(-ev.deltaY * 0.002), ev.clientX, ev.clientY);
  }, { passive: false });
  viewerBody.addEventListener("dblclick", (ev) => {
    if (!photo()) return;
    if (zoom.s > 1) { zoom.s = 1; applyZoom(); } else zoomBy(2.5, ev.clientX, ev.clientY);
  });
  // Pointers (mouse, pen, fingers): one drags a zoomed photo, two pinch, a swipe at scale 1 steps.
  const pointers = new Map();
  let pinch = null, swipe = null;
  viewerBody.addEventListener("pointerdown", (ev) => {
    if (!photo()) return;
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    viewerBody.setPointerCapture(ev.pointerId);
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, s: zoom.s };
      swipe = null;
    } else swipe = zoom.s === 1 ? { x: ev.clientX, y: ev.clientY } : null;
  });
  viewerBody.addEventListener("pointermove", (ev) => {
    const was = pointers.get(ev.pointerId);
    if (!was) return;
    const now = { x: ev.clientX, y: ev.clientY };
    pointers.set(ev.pointerId, now);
    if (pinch && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      zoomBy((pinch.s * Math.hypot(a.x - b.x, a.y - b.y)) / pinch.d / zoom.s, (a.x + b.x) / 2, (a.y + b.y) / 2);
    } else if (zoom.s > 1) {
      zoom.x += now.x - was.x;
      zoom.y += now.y - was.y;
      applyZoom();
    }
  });
  const up = (ev) => {
    if (!pointers.delete(ev.pointerId)) return;
    if (pointers.size < 2) pinch = null;
    if (swipe && pointers.size === 0) {
      const dx = ev.clientX - swipe.x, dy = ev.clientY - swipe.y;
      if (Math.abs(dx) > 50 && Math.abs(dx) > 2 * Math.abs(dy)) step(dx < 0 ? 1 : -1);
      swipe = null;
    }
  };
  viewerBody.addEventListener("pointerup", up);
  viewerBody.addEventListener("pointercancel", up);
  $("share-create").addEventListener("click", createShare);
  $("share-choose").addEventListener("click", async () => {
    // The picker over the share dialog, starting where the shared item is; the dialog stays open.
    const start = sharing && state.entries.some((e) => entryPath(e) === sharing && !e.is_dir) ? parentOf(sharing) : sharing || state.path;
    const chosen = await pickFolder({ title: t("picker.share_title"), ok: t("picker.share_here"), start, writable: false });
    if (!$("share-dialog").open) $("share-dialog").showModal();
    if (chosen === null) return;
    sharing = chosen;
    $("share-path").textContent = chosen;
  });
  $("share-copy").addEventListener("click", (ev) => {
    $("share-url").select();
    copyText($("share-url").value, ev.currentTarget);
  });
  $("shares-all").addEventListener("change", renderShares);
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { if (!state.writable) return; ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); if (state.writable) upload([...ev.dataTransfer.files]); });
  $("user-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    adminDo(async () => {
      await api("POST", "/api/admin/users", { name: f.get("name"), password: f.get("password"), base_path: f.get("base_path") || "/",
        can_write: f.get("can_write") === "on", is_admin: f.get("is_admin") === "on" });
      ev.target.reset();
    });
  });
  $("kind-select").addEventListener("change", remoteOptions);
  $("remote-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = {};
    for (const [k, v] of new FormData(ev.target)) if (v) body[k] = v;
    adminDo(async () => {
      await api("POST", "/api/admin/remotes", body);
      ev.target.reset();
    });
  });
  $("mount-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    adminDo(async () => {
      await api("POST", "/api/admin/mounts", { path: f.get("path"), remote: f.get("remote"), root: f.get("root") || "",
        read_only: f.get("read_only") === "on", direct_links: f.get("direct_links") === "on", guest: f.get("guest") === "on" });
      ev.target.reset();
    });
  });
  // A crumb of the folder already shown (after a search, say) shows it again.
  $("crumbs").addEventListener("click", (ev) => {
    const a = ev.target.closest("a");
    if (a && a.getAttribute("href") === location.hash) { ev.preventDefault(); render(); }
  });
  // One ⋯ menu open at a time; a click outside closes it, and Escape closes it and gives the focus back
  // to its ⋯. A right click on an entry opens that entry's menu in place of the browser's.
  const closeMenus = (except) => {
    for (const d of document.querySelectorAll("details.menu[open]")) if (d !== except) d.open = false;
  };
  document.addEventListener("toggle", (ev) => {
    if (ev.target instanceof HTMLDetailsElement && ev.target.matches("details.menu") && ev.target.open) closeMenus(ev.target);
  }, true);
  document.addEventListener("click", (ev) => { if (!ev.target.closest("details.menu")) closeMenus(null); });
  document.addEventListener("keydown", (ev) => {
    const open = ev.key === "Escape" && document.querySelector("details.menu[open]");
    if (!open) return;
    ev.preventDefault();
    open.open = false;
    open.querySelector("summary").focus();
  });
  $("entries").addEventListener("contextmenu", (ev) => {
    const menu = ev.target.closest("li.entry")?.querySelector("details.menu");
    if (!menu || menu.hidden) return;
    ev.preventDefault();
    closeMenus(menu);
    menu.open = true;
    menu.querySelector(".menu-items button")?.focus();
  });
  // "/" jumps to the search box (unless typing somewhere already).
  document.addEventListener("keydown", (ev) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (ev.key === "/" && !typing && !$("search-form").hidden && !document.querySelector("dialog[open]")) {
      ev.preventDefault();
      $("search-input").focus();
    }
  });
  window.addEventListener("hashchange", () => { state.page = 1; closeViewer(); render(); });
}

/** The theme chosen with the switch ("" for the system's). */
function theme() {
  const t = localStorage.getItem("cloudmux-theme");
  return t === "light" || t === "dark" ? t : "";
}

function applyTheme() {
  const t = theme();
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}

async function start() {
  applyTheme();
  await loadStrings(preferredLanguage());
  wire();
  if (token && !share) {
    try { me = (await api("GET", "/api/me")).user; } catch (_) { me = null; }
    if (me) refreshTasks(false);
  }
  render();
}

start();
