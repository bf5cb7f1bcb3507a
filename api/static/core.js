// The dashboard's shared parts: the token, calls to the API, the router between views, the
// server's clock for countdowns, and formatting. Every view file beside this one adds a
// `VIEWS` entry; main.js starts the router. All files are inlined as one script (one CSP
// hash), inside one function, so they share these names and nothing leaks to `window`.
// Data is written with textContent only: ids come from producers and are not trusted.

const TOKEN_KEY = "slamon.token";
const REFRESH_MS = 1000 * Number(document.body.dataset.refreshSeconds || 5);
const VIEWS = {};
const LABELS = {
  cases: {
    open: "Open 处理中", responded: "Responded 已给方案", resolved: "Resolved 已完结",
    cancelled: "Cancelled 已撤销", not_opened: "Not opened yet 未发起",
  },
  breaches: {
    open: "Open: counts as violation 违背承诺", settled: "Settled: paid 已赔付",
    contested: "Contested 有争议",
  },
  compensations: {
    pending: "Pending 待发放", issued: "Issued 已发放", failed: "Failed 发放失败",
    cancelled: "Cancelled 已取消", review: "Review 待复核", held: "Held 已拦截",
    paid_in_error: "Paid in error 误付",
  },
  kinds: { response: "response 响应", resolution: "resolution 解决" },
  events: {
    "help.opened": "opened 发起", "help.assigned": "assigned 指派",
    "help.responded": "responded 给出方案", "help.resolved": "resolved 完结",
    "help.cancelled": "cancelled 撤销", "help.reopened": "reopened 重开",
  },
};
const numbers = new Intl.NumberFormat("en-US");
const byId = (id) => document.getElementById(id);
const app = { roles: [], clockOffsetMs: 0, timer: null, view: null };

// -- token -------------------------------------------------------------------------------

function takeTokenFromFragment() {
  // A link may carry #token=…: keep it for this tab, then drop it from the address bar and
  // history so it is not bookmarked, shared or shown on screen. (Not URLSearchParams: it
  // would turn a "+" in the token into a space.)
  const pair = location.hash.slice(1).split("&").find((p) => p.startsWith("token="));
  if (pair === undefined) return;
  const raw = pair.slice("token=".length);
  let token = raw;
  try {
    token = decodeURIComponent(raw);
  } catch (err) {
    // Not percent-encoded after all: use it as written.
  }
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, "", location.pathname + location.search);
}

function showLogin(message) {
  clearTimeout(app.timer);
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  byId("nav").hidden = true;
  byId("signout").hidden = true;
  byId("notice").hidden = true;
  byId("login").hidden = false;
  const error = byId("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  setState("idle", "not signed in · 未登录");
  byId("token").focus();
}

// -- calling the API ---------------------------------------------------------------------

class Refused extends Error {}

// The JSON of `path`, or null when the token was refused (the login form is then shown) or
// the call failed (the state badge says so, the view keeps what it showed).
async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    showLogin();
    throw new Refused("no token");
  }
  let response;
  try {
    const headers = { Authorization: "Bearer " + token };
    if (options.body) headers["Content-Type"] = "application/json";
    response = await fetch(path, {
      method: options.method || "GET", cache: "no-store", headers,
      body: options.body ? JSON.stringify(options.body) : undefined,
    });
  } catch (err) {
    setState("stale", "offline · 连接失败");
    return null;
  }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("The token was refused. 令牌无效。");
    throw new Refused("401");
  }
  if (response.status === 403 && !options.action) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("This token lacks the read role. 此令牌没有读取权限。");
    throw new Refused("403");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = body.detail || {};
    const message = detail.error || (typeof detail === "string" ? detail : "");
    if (options.action || response.status === 404 || response.status === 422) {
      return { error: message || "HTTP " + response.status, status: response.status };
    }
    setState("stale", "HTTP " + response.status + " · 数据未更新");
    return null;
  }
  setState("live", "live · 实时");
  return body;
}

// The server's instants decide countdowns: the browser's clock may be off.
function syncClock(serverIso) {
  if (serverIso) app.clockOffsetMs = Date.parse(serverIso) - Date.now();
}

function serverNow() {
  return Date.now() + app.clockOffsetMs;
}

function can(role) {
  return app.roles.includes(role);
}

// -- router ------------------------------------------------------------------------------

// "#/case/H1" → { name: "case", arg: "H1", params }; unknown routes show the overview.
function parseRoute() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  const params = new URLSearchParams(query || "");
  return { name: VIEWS[name] ? name : "overview", arg: decodeURIComponent(rest.join("/")), params };
}

async function route() {
  clearTimeout(app.timer);
  const current = parseRoute();
  app.view = current;
  byId("login").hidden = true;
  byId("nav").hidden = false;
  byId("signout").hidden = false;
  notice("");
  for (const view of document.querySelectorAll(".view")) {
    view.hidden = view.id !== "view-" + current.name;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === current.name);
  }
  const view = VIEWS[current.name];
  byId("page-title").textContent = view.title;
  await refreshView(current);
}

// Draw the view, then again every `refreshMs` (REFRESH_MS unless the view says; none if 0)
// while it is the one shown.
async function refreshView(current) {
  clearTimeout(app.timer);
  try {
    await VIEWS[current.name].show(current);
  } catch (err) {
    if (err instanceof Refused) return;
    throw err;
  }
  const every = VIEWS[current.name].refreshMs ?? REFRESH_MS;
  if (app.view === current && every > 0) {
    app.timer = setTimeout(() => refreshView(current), every);
  }
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// -- page furniture ----------------------------------------------------------------------

function setState(kind, text) {
  const state = byId("state");
  state.className = "state " + kind;
  state.textContent = text;
}

function stamp(iso) {
  byId("updated").textContent = iso ? "updated " + when(iso) : "";
}

function notice(text, kind) {
  const node = byId("notice");
  node.hidden = !text;
  node.textContent = text || "";
  node.className = "notice " + (kind || "");
}

// -- building rows -----------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function cell(text, className) {
  const td = el("td", className, text);
  if (className && className.includes("case")) td.title = text;
  return td;
}

function pill(status, label) {
  const td = el("td");
  td.append(el("span", "pill " + status, label || status));
  return td;
}

function caseLink(caseId) {
  const td = el("td", "case");
  const a = el("a", "mono", caseId);
  a.href = "#/case/" + encodeURIComponent(caseId);
  td.title = caseId;
  td.append(a);
  return td;
}

function countdownCell(dueIso) {
  const td = el("td", "countdown");
  td.dataset.due = dueIso;
  paintCountdown(td);
  return td;
}

function listRows(id, items, columns, emptyText, cells) {
  const body = byId(id);
  if (!items.length) {
    const row = el("tr", "empty");
    const only = cell(emptyText);
    only.colSpan = columns;
    row.append(only);
    return body.replaceChildren(row);
  }
  body.replaceChildren(...items.map((item) => {
    const row = el("tr");
    row.append(...cells(item));
    return row;
  }));
}

// -- countdowns --------------------------------------------------------------------------

function paintCountdown(node) {
  const left = (Date.parse(node.dataset.due) - serverNow()) / 1000;
  if (left >= 0) {
    node.textContent = "in " + duration(left);
    node.classList.toggle("soon", left < 15 * 60);
    node.classList.remove("late");
  } else {
    node.textContent = "due " + duration(-left) + " ago · 已到期";
    node.classList.add("late");
  }
}

function tickCountdowns() {
  for (const node of document.querySelectorAll("[data-due]")) paintCountdown(node);
}

// -- formatting --------------------------------------------------------------------------

function kind(name) {
  return LABELS.kinds[name] || name;
}

// The server sends instants already in Asia/Shanghai ("2026-11-26T17:30:00.123+08:00"), so
// the browser's own time zone never enters.
function when(iso) {
  return iso ? iso.slice(5, 10) + " " + iso.slice(11, 19) : "–";
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 10) return seconds.toFixed(1) + " s";
  const whole = Math.floor(seconds);
  if (whole < 60) return whole + " s";
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return minutes + "m " + String(whole % 60).padStart(2, "0") + "s";
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return hours + "h " + String(minutes % 60).padStart(2, "0") + "m";
  return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
}

function percent(value) {
  return value === null || value === undefined ? "–" : value.toFixed(1) + "%";
}

// A date as the <input type=date> and the API read it: the Asia/Shanghai calendar day.
function shanghaiDate(ms) {
  return new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 10);
}
