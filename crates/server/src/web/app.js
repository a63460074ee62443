// cloudmux web page: browse, upload, download, rename, move, delete, share; admin pages.
// Every name from the server is put on the page with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const PER_PAGE = 200;
let token = sessionStorage.getItem("cloudmux-token");
let me = null;
let page = 1;

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

async function api(method, path, body, raw) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  let payload;
  if (body !== undefined && !raw) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: payload });
  if (r.status === 401) {
    signOut();
    throw new Error("please sign in again");
  }
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try {
      const e = (await r.json()).error;
      msg = e.message + (e.hint ? " — " + e.hint : "");
    } catch (_) {}
    throw new Error(msg);
  }
  return r.status === 204 ? null : r.json();
}

function currentPath() {
  const h = decodeURIComponent(location.hash.replace(/^#/, ""));
  return h === "admin" ? null : h || "/";
}

function join(dir, name) {
  return (dir === "/" ? "" : dir) + "/" + name;
}

function human(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function status(msg, bad) {
  const s = $("status");
  s.textContent = msg || "";
  s.className = bad ? "error" : "";
}

function show(view) {
  for (const v of ["login-view", "files-view", "admin-view"]) $(v).hidden = v !== view;
  const signed = !!me;
  $("logout").hidden = !signed;
  $("nav-files").hidden = !signed;
  $("nav-admin").hidden = !(me && me.is_admin);
  $("who").textContent = me ? me.name : "";
}

function signOut() {
  token = null;
  me = null;
  sessionStorage.removeItem("cloudmux-token");
  show("login-view");
}

function crumbs(path) {
  const nav = $("crumbs");
  nav.replaceChildren();
  nav.append(el("a", { href: "#/", text: "/" }));
  let acc = "";
  for (const part of path.split("/").filter(Boolean)) {
    acc += "/" + part;
    nav.append(el("span", { class: "sep", text: "›" }), el("a", { href: "#" + encodeURIComponent(acc), text: part }));
  }
}

async function ticketUrl(path, inline) {
  const t = await api("POST", "/api/fs/ticket", { path });
  return t.url + (inline ? "?inline=true" : "");
}

async function download(path) {
  const a = el("a", { href: await ticketUrl(path, false), download: "" });
  document.body.append(a);
  a.click();
  a.remove();
}

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|avif)$/i;

async function render() {
  if (!me) return show("login-view");
  const path = currentPath();
  if (path === null) return renderAdmin();
  show("files-view");
  crumbs(path);
  status("loading…");
  let data;
  try {
    data = await api("GET", `/api/fs/list?path=${encodeURIComponent(path)}&page=${page}&per_page=${PER_PAGE}`);
  } catch (e) {
    status(e.message, true);
    $("listing").tBodies[0].replaceChildren();
    return;
  }
  status(`${data.total} entries`);
  const rows = [];
  if (path !== "/") {
    const up = path.split("/").slice(0, -1).join("/") || "/";
    rows.push(el("tr", {}, el("td"), el("td", {}, el("a", { class: "entry", href: "#" + encodeURIComponent(up), text: ".." })), el("td"), el("td"), el("td")));
  }
  for (const e of data.entries) rows.push(row(path, e));
  $("listing").tBodies[0].replaceChildren(...rows);
  const pager = $("pager");
  pager.replaceChildren();
  const pages = Math.ceil(data.total / PER_PAGE);
  if (pages > 1) {
    if (page > 1) pager.append(el("button", { text: "‹ previous", onclick: () => { page--; render(); } }));
    pager.append(el("span", { text: `page ${page} of ${pages}` }));
    if (page < pages) pager.append(el("button", { text: "next ›", onclick: () => { page++; render(); } }));
  }
}

function row(dir, e) {
  const full = join(dir, e.name);
  const name = e.is_dir
    ? el("a", { class: "entry", href: "#" + encodeURIComponent(full), text: e.name + "/" })
    : el("a", { class: "entry", text: e.name, onclick: () => download(full).catch((x) => status(x.message, true)) });
  const thumb = el("td", { class: "thumb" });
  if (!e.is_dir && IMAGE.test(e.name)) {
    ticketUrl(full, false).then((u) => {
      const img = el("img", { src: u + "?thumb=96", alt: "", loading: "lazy" });
      img.addEventListener("click", () => {
        $("preview-img").src = u + "?inline=true";
        $("preview-name").textContent = e.name;
        $("preview").showModal();
      });
      thumb.append(img);
    }).catch(() => {});
  }
  const act = (label, fn) => el("button", { text: label, onclick: () => fn().catch((x) => status(x.message, true)) });
  const actions = el("td", { class: "actions" });
  if (!e.is_dir) actions.append(act("Download", () => download(full)));
  if (me.can_write) {
    actions.append(
      act("Rename", async () => {
        const to = prompt("New name", e.name);
        if (!to || to === e.name) return;
        await api("POST", "/api/fs/rename", { from: full, to: join(dir, to) });
        status(`renamed to ${to}`);
        render();
      }),
      act("Move", async () => {
        const to = prompt("Move to folder", dir);
        if (!to) return;
        const r = await api("POST", "/api/fs/move", { from: full, to: join(to, e.name) });
        status(r && r.state ? `moving in the background (task ${r.id})` : `moved to ${to}`);
        render();
      }),
      act("Share", async () => {
        const r = await api("POST", "/api/fs/link", { path: full });
        prompt("Public link", r.url);
      }),
      act("Delete", async () => {
        if (!confirm(`Delete ${e.name}${e.is_dir ? " and everything in it" : ""}?`)) return;
        await api("POST", "/api/fs/delete", { path: full });
        status(`deleted ${e.name}`);
        render();
      }),
    );
  }
  return el("tr", { "data-name": e.name }, thumb, el("td", {}, name), el("td", { class: "num", text: e.is_dir ? "" : human(e.size) }),
    el("td", { text: e.modified ? new Date(e.modified).toLocaleString() : "" }), actions);
}

function upload(files) {
  const dir = currentPath();
  if (dir === null) return;
  let pending = files.length;
  for (const f of files) {
    const bar = el("progress", { max: "100", value: "0" });
    const line = el("div", { class: "upload" }, el("span", { text: f.name }), bar);
    $("uploads").append(line);
    const x = new XMLHttpRequest();
    x.open("PUT", `/api/fs/upload?path=${encodeURIComponent(join(dir, f.name))}`);
    x.setRequestHeader("Authorization", "Bearer " + token);
    x.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = (100 * ev.loaded) / ev.total; };
    x.onloadend = () => {
      if (x.status === 201) line.remove();
      else {
        let msg = `${x.status}`;
        try { msg = JSON.parse(x.responseText).error.message; } catch (_) {}
        line.replaceChildren(el("span", { class: "error", text: `${f.name}: ${msg}` }));
      }
      if (--pending === 0) render();
    };
    x.send(f);
  }
}

async function renderAdmin() {
  show("admin-view");
  crumbs("/");
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
    const yes = (b) => (b ? "yes" : "");
    $("users").tBodies[0].replaceChildren(...users.users.map((u) => el("tr", {},
      el("td", { text: u.name }), el("td", { text: u.base_path }), el("td", { text: yes(u.can_write) }), el("td", { text: yes(u.is_admin) }),
      el("td", { class: "actions" },
        el("button", { text: "Password", onclick: () => adminDo(async () => {
          const p = prompt(`New password for ${u.name}`);
          if (p) await api("PATCH", `/api/admin/users/${encodeURIComponent(u.name)}`, { password: p });
        }) }),
        el("button", { text: "Remove", onclick: () => adminDo(async () => {
          if (confirm(`Remove user ${u.name}?`)) await api("DELETE", `/api/admin/users/${encodeURIComponent(u.name)}`);
        }) })))));
    $("mounts").tBodies[0].replaceChildren(...mounts.mounts.map((m) => el("tr", {},
      el("td", { text: m.path }), el("td", { text: m.remote }), el("td", { text: m.root }), el("td", { text: yes(m.read_only) }),
      el("td", { text: yes(m.active) }),
      el("td", { class: "actions" }, el("button", { text: "Unmount", onclick: () => adminDo(async () => {
        if (confirm(`Unmount ${m.path}?`)) await api("DELETE", `/api/admin/mounts?path=${encodeURIComponent(m.path)}`);
      }) })))));
    $("remotes").tBodies[0].replaceChildren(...remotes.remotes.map((r) => el("tr", { "data-name": r.name },
      el("td", { text: r.name }), el("td", { text: r.kind }),
      el("td", { class: "actions" }, signInStyle(r.kind) === "none" ? "" : el("button", { text: "Sign in", onclick: () => signIn(r.name) })))));
    $("remote-select").replaceChildren(...remotes.remotes.map((r) => el("option", { value: r.name, text: `${r.name} (${r.kind})` })));
  } catch (e) {
    $("admin-error").textContent = e.message;
  }
}

// The kinds of remote the server knows (GET /api/admin/backends): their options and sign-in style.
let backends = [];

function signInStyle(kind) {
  const b = backends.find((x) => x.kind === kind);
  return b ? b.sign_in : "none";
}

// The add-remote form's fields: the options of the chosen kind, each with its help as placeholder.
function remoteOptions() {
  const b = backends.find((x) => x.kind === $("kind-select").value);
  $("remote-options").replaceChildren(...(b ? b.options : []).map((o) => el("input", {
    name: o.name, placeholder: o.help, "aria-label": o.name, title: o.help,
    type: o.kind === "secret" ? "password" : "text", required: o.required ? "" : undefined,
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
    out.textContent = `Finish signing ${name} in on the Google page that opened (it comes back to ${r.redirect_uri}).`;
    return;
  }
  out.replaceChildren(el("span", { text: `Open ` }), el("a", { href: r.verification_url, target: "_blank", rel: "noopener", text: r.verification_url }),
    el("span", { text: " and enter the code " }), el("strong", { id: "user-code", text: r.user_code }));
  for (let i = 0; i < r.expires_in; i += 2) {
    await new Promise((res) => setTimeout(res, 2000));
    let s;
    try { s = await api("GET", `/api/admin/remotes/${encodeURIComponent(name)}/signin`); } catch (e) { out.textContent = e.message; return; }
    if (s.state === "done") { out.textContent = `${name} is signed in. You can mount it now.`; return; }
    if (s.state === "failed") { out.textContent = `Signing ${name} in failed: ${s.error}`; return; }
  }
  out.textContent = `The code for ${name} expired: sign in again.`;
}

async function adminDo(fn) {
  try { await fn(); } catch (e) { $("admin-error").textContent = e.message; return; }
  renderAdmin();
}

async function start() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    $("login-error").textContent = "";
    try {
      const r = await api("POST", "/api/auth/login", { username: f.get("username"), password: f.get("password") });
      token = r.token;
      me = r.user;
      sessionStorage.setItem("cloudmux-token", token);
      ev.target.reset();
      render();
    } catch (e) {
      $("login-error").textContent = e.message;
    }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/auth/logout"); } catch (_) {}
    signOut();
  });
  $("upload-input").addEventListener("change", (ev) => { upload([...ev.target.files]); ev.target.value = ""; });
  $("new-folder").addEventListener("click", async () => {
    const name = prompt("Folder name");
    if (!name) return;
    try {
      await api("POST", "/api/fs/mkdir", { path: join(currentPath(), name) });
      render();
    } catch (e) { status(e.message, true); }
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); upload([...ev.dataTransfer.files]); });
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
      await api("POST", "/api/admin/mounts", { path: f.get("path"), remote: f.get("remote"), root: f.get("root") || "", read_only: f.get("read_only") === "on" });
      ev.target.reset();
    });
  });
  window.addEventListener("hashchange", () => { page = 1; render(); });
  if (token) {
    try { me = (await api("GET", "/api/me")).user; } catch (_) { me = null; }
  }
  render();
}

start();
