"use strict";
// The dashboard's only script: token handling, polling /v1/summary, rendering.
// Data is written with textContent only: case ids come from producers and are not trusted.
(() => {
  const TOKEN_KEY = "slamon.token";
  const REFRESH_MS = 1000 * Number(document.body.dataset.refreshSeconds || 5);
  const LABELS = {
    cases: {
      open: "Open 处理中", responded: "Responded 已给方案", resolved: "Resolved 已完结",
      cancelled: "Cancelled 已撤销",
    },
    breaches: {
      open: "Open: counts as violation 违背承诺", settled: "Settled: paid 已赔付",
      contested: "Contested 有争议",
    },
    compensations: {
      pending: "Pending 待发放", issued: "Issued 已发放", failed: "Failed 发放失败",
      cancelled: "Cancelled 已取消", review: "Review 待复核",
      held: "Held by the guard 已暂扣", paid_in_error: "Paid in error 误发",
    },
    kinds: { response: "response 响应", resolution: "resolution 解决" },
  };
  const numbers = new Intl.NumberFormat("en-US");
  const byId = (id) => document.getElementById(id);
  let timer = null;

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
    clearTimeout(timer);
    byId("content").hidden = true;
    byId("signout").hidden = true;
    byId("login").hidden = false;
    const error = byId("login-error");
    error.hidden = !message;
    error.textContent = message || "";
    setState("idle", "not signed in · 未登录");
    byId("token").focus();
  }

  byId("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = byId("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    byId("token").value = "";
    byId("login").hidden = true;
    refresh();
  });

  byId("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
  });

  // -- polling -----------------------------------------------------------------------------

  async function refresh() {
    clearTimeout(timer);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return showLogin();
    let response;
    try {
      response = await fetch("/v1/summary", {
        headers: { Authorization: "Bearer " + token }, cache: "no-store",
      });
    } catch (err) {
      setState("stale", "offline · 连接失败");
      return schedule();
    }
    if (response.status === 401 || response.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(response.status === 403
        ? "This token lacks the read role. 此令牌没有读取权限。"
        : "The token was refused. 令牌无效。");
    }
    if (!response.ok) {
      setState("stale", "HTTP " + response.status + " · 数据未更新");
      return schedule();
    }
    render(await response.json());
    setState("live", "live · 实时");
    schedule();
  }

  function schedule() {
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function setState(kind, text) {
    const state = byId("state");
    state.className = "state " + kind;
    state.textContent = text;
  }

  // -- rendering ---------------------------------------------------------------------------

  function render(s) {
    byId("content").hidden = false;
    byId("signout").hidden = false;
    byId("updated").textContent = "updated " + s.generated_at.slice(0, 10) + " "
      + s.generated_at.slice(11, 19);
    const comp = s.compensations;
    const guard = s.payout_guard;
    const lag = s.breach_fire_lag;
    fill({
      violations: numbers.format(s.breaches.open || 0),
      pending: numbers.format(s.deadlines.pending),
      due_next_hour: numbers.format(s.deadlines.due_next_hour),
      at_risk: numbers.format(s.deadlines.at_risk),
      overdue: numbers.format(s.deadlines.overdue),
      lag_p50: duration(lag.p50_seconds),
      lag_p99: duration(lag.p99_seconds),
      lag_n: numbers.format(lag.breaches),
      points_paid: numbers.format(s.points_paid.points),
      points_pending: numbers.format(comp.pending ? comp.pending.points : 0),
      points_held: numbers.format(guard.held.points),
      guard_state: guard.tripped ? "TRIPPED 已熔断" : "armed 正常",
      points_failed: numbers.format(comp.failed ? comp.failed.points : 0),
      dead_letters: numbers.format(s.dead_letters.unreplayed),
      outbox_backlog: numbers.format(s.outbox.backlog),
      outbox_age: s.outbox.oldest_age_seconds === null ? "none" : duration(s.outbox.oldest_age_seconds),
    });
    tone("t-violations", (s.breaches.open || 0) > 0 ? "bad" : "ok");
    tone("t-overdue", s.deadlines.overdue > 0 ? "bad" : "ok");
    tone("t-pending", s.deadlines.at_risk > 0 ? "warn" : "ok");
    // Held money waits for a person; a tripped guard holds everything: both need one now.
    tone("t-points", guard.tripped || guard.held.count > 0 ? "bad"
      : comp.failed && comp.failed.count > 0 ? "warn" : "ok");
    // A backlog of a few messages is the relay's normal batch; a minute-old one is stuck.
    const stuck = (s.outbox.oldest_age_seconds || 0) > 60;
    tone("t-plumbing", s.dead_letters.unreplayed > 0 || stuck ? "warn" : "ok");

    countRows("cases", s.cases, LABELS.cases, (n) => [numbers.format(n)]);
    countRows("breaches", s.breaches, LABELS.breaches, (n) => [numbers.format(n)]);
    countRows("compensations", comp, LABELS.compensations,
      (t) => [numbers.format(t.count), numbers.format(t.points)]);

    listRows("recent-breaches", s.recent_breaches, 6, "no breaches yet · 暂无违约", (b) => [
      cell(b.case_id, "case"), cell(kind(b.kind)), cell(when(b.due_at)), cell(when(b.detected_at)),
      cell(numbers.format(b.points), "num"), pill(b.status),
    ]);
    listRows("oldest-pending", s.oldest_pending_deadlines, 5, "nothing pending · 无待判定", (d) => [
      cell(d.case_id, "case"), cell(kind(d.kind)), cell(when(d.due_at)), cell(when(d.judge_at)),
      cell(d.late_seconds > 0 ? duration(d.late_seconds) : "–", d.late_seconds > 30 ? "num late" : "num"),
    ]);
  }

  function fill(values) {
    for (const [field, text] of Object.entries(values)) {
      for (const node of document.querySelectorAll('[data-field="' + field + '"]')) {
        node.textContent = text;
      }
    }
  }

  function tone(id, kind) {
    byId(id).className = "tile " + kind;
  }

  function countRows(id, counts, labels, values) {
    const rows = Object.entries(counts).map(([status, value]) => {
      const row = document.createElement("tr");
      row.append(cell(labels[status] || status));
      for (const text of values(value)) row.append(cell(text, "num"));
      return row;
    });
    byId(id).replaceChildren(...rows);
  }

  function listRows(id, items, columns, emptyText, cells) {
    const body = byId(id);
    if (!items.length) {
      const row = document.createElement("tr");
      row.className = "empty";
      const only = cell(emptyText);
      only.colSpan = columns;
      row.append(only);
      return body.replaceChildren(row);
    }
    body.replaceChildren(...items.map((item) => {
      const row = document.createElement("tr");
      row.append(...cells(item));
      return row;
    }));
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    if (className === "case") td.title = text;
    return td;
  }

  function pill(status) {
    const td = document.createElement("td");
    const span = document.createElement("span");
    span.className = "pill " + status;
    span.textContent = status;
    td.append(span);
    return td;
  }

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

  takeTokenFromFragment();
  refresh();
})();
