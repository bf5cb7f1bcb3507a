// Finding a case (#/search?q=…) and the case page (#/case/ID): facts, deadlines with live
// countdowns, breaches, compensations with their attempts and actions, the event timeline.

// What an operator may do to a compensation, by its status: shown only to a token with the
// *operate* role (each action is recorded in the audit trail under the token's name). A
// resolution of a review asks for the note the API requires.
const COMPENSATION_ACTIONS = [
  { name: "retry", label: "Retry · 重新发放", statuses: ["failed"], path: "retry" },
  { name: "release", label: "Release · 放行", statuses: ["held"], path: "release" },
  { name: "cancel", label: "Cancel · 取消", statuses: ["held"], path: "cancel" },
  {
    name: "resolve-stands", label: "Review: owed · 复核: 应付", statuses: ["review"],
    path: "resolve", resolution: "stands",
  },
  {
    name: "resolve-wrong", label: "Review: paid in error · 复核: 误付", statuses: ["review"],
    path: "resolve", resolution: "wrong",
  },
];

VIEWS.search = {
  title: "Search · 查找",
  refreshMs: 0,
  async show(route) {
    const q = route.params.get("q") || "";
    byId("search-input").value = q;
    byId("search-q").textContent = q ? "“" + q + "”" : "";
    if (!q.trim()) {
      return listRows("search-results", [], 9, "type an id above · 请输入编号", () => []);
    }
    const found = await api("/v1/search?q=" + encodeURIComponent(q));
    if (!found) return;
    if (found.error) return notice(found.error, "bad");
    listRows("search-results", found.cases, 9, "no case has this id · 未找到", (c) => [
      caseLink(c.case_id), cell(c.matched.join(", ")), pill(c.status, LABELS.cases[c.status]),
      cell(when(c.opened_at)), cell(c.order_id || "–", "mono"),
      cell(c.buyer_account || "–", "mono"), cell(c.merchant_id || "–"),
      cell(c.provider_id || "–"), cell(c.city || "–"),
    ]);
  },
};

VIEWS.case = {
  title: "Case · 求助单详情",
  async show(route) {
    const [who, view] = await Promise.all([
      api("/v1/whoami"), api("/v1/cases/" + encodeURIComponent(route.arg)),
    ]);
    if (who) {
      app.roles = who.roles;
      syncClock(who.now);
      stamp(who.now);
    }
    if (!view) return;
    if (view.error) {
      byId("case-id").textContent = route.arg;
      return notice(view.error + " · 未找到该求助单", "bad");
    }
    renderCase(view);
  },
};

function renderCase(c) {
  byId("case-id").textContent = c.case_id;
  const status = byId("case-status");
  status.replaceChildren(el("span", "pill " + c.status, LABELS.cases[c.status] || c.status));
  const facts = [
    ["opened 发起", when(c.opened_at)], ["policy 规则", c.policy],
    ["merchant 商家", c.merchant_id], ["provider 服务商", c.provider_id],
    ["city 城市", c.city], ["category 类目", c.category],
    ["services 服务", (c.services || []).join(", ")], ["order 订单", c.order_id],
    ["buyer 买家", c.buyer_account], ["item price 价格", c.item_price],
    ["responded 方案", when(c.responded_at)], ["resolved 完结", when(c.resolved_at)],
  ];
  if (!c.monitored) facts.unshift(["not monitored 未监控", c.not_monitored_reason]);
  byId("case-facts").replaceChildren(...facts.flatMap(([term, value]) => [
    el("dt", null, term), el("dd", null, value === null || value === undefined ? "–" : value),
  ]));

  listRows("case-deadlines", c.deadlines, 8, "no deadlines · 无时限", (d) => [
    cell(kind(d.kind)), pill(d.state),
    cell(when(d.due_at)),
    d.state === "pending" ? countdownCell(d.due_at) : cell("–", "num"),
    cell(when(d.at_risk_at)), cell(when(d.judge_at)), cell(when(d.met_at)),
    cell(numbers.format(d.points), "num"),
  ]);
  listRows("case-breaches", c.breaches, 6, "no breach · 无违约", (b) => [
    cell(kind(b.kind)), pill(b.status, LABELS.breaches[b.status]), cell(when(b.due_at)),
    cell(when(b.detected_at)), cell(numbers.format(b.points), "num"),
    cell(b.reason || (b.evidence_at ? "evidence at " + when(b.evidence_at) : "–"), "reason"),
  ]);
  listRows("case-compensations", c.compensations, 8, "no compensation · 无赔付", (p) => [
    cell(String(p.id), "num"), cell(kind(p.kind)), pill(p.status, LABELS.compensations[p.status]),
    cell(numbers.format(p.points), "num"), cell(p.account, "mono"),
    cell(String(p.attempts), "num"), attemptsCell(p), actionsCell(p),
  ]);
  renderTimeline(c.events || []);
}

function attemptsCell(p) {
  const td = el("td", "attempts");
  const list = el("ul");
  list.append(el("li", null, "owed since 应付 " + when(p.created_at)));
  for (const h of p.history || []) {
    const text = h.topic.replace("compensation.", "") + " " + when(h.at)
      + (h.reason ? " — " + h.reason : "") + (h.reference ? " (" + h.reference + ")" : "");
    list.append(el("li", h.topic.endsWith("failed") ? "late" : null, text));
  }
  if (p.last_error) list.append(el("li", "late", "last error 最近错误: " + p.last_error));
  if (p.status === "pending" && p.next_attempt_at) {
    list.append(el("li", null, "next attempt 下次发放 by " + when(p.next_attempt_at)));
  }
  if (p.issued_at) list.append(el("li", null, "issued 已发放 " + when(p.issued_at)));
  td.append(list);
  return td;
}

function actionsCell(p) {
  const td = el("td", "actions");
  if (!can("operate")) {
    td.textContent = "–";
    return td;
  }
  for (const action of COMPENSATION_ACTIONS) {
    if (!action.statuses.includes(p.status)) continue;
    const button = el("button", "action", action.label);
    button.type = "button";
    button.dataset.action = action.name;
    button.addEventListener("click", async () => {
      let body = null;
      if (action.resolution) {
        const note = window.prompt("Note for the audit trail · 复核说明");
        if (!note) return;
        body = { resolution: action.resolution, note };
      }
      button.disabled = true;
      const path = "/v1/compensations/" + p.id + "/" + action.path;
      const done = await api(path, { method: "POST", action: true, body });
      if (done && done.error) notice(action.name + ": " + done.error, "bad");
      else if (done) notice(action.name + " compensation " + p.id + ": " + done.status, "ok");
      refreshView(app.view);
    });
    td.append(button);
  }
  if (!td.childNodes.length) td.textContent = "–";
  return td;
}

function renderTimeline(events) {
  const items = events.map((e) => {
    const item = el("li", "event " + e.outcome);
    const lag = (Date.parse(e.received_at) - Date.parse(e.occurred_at)) / 1000;
    item.append(
      el("span", "what", LABELS.events[e.type] || e.type),
      el("span", "at", "occurred 发生 " + when(e.occurred_at)),
      el("span", lag > 60 ? "at late" : "at",
        "received 接收 " + when(e.received_at) + " (+" + duration(Math.max(0, lag)) + ")"),
      el("span", "pill " + e.outcome, e.outcome),
    );
    if (e.duplicates) item.append(el("span", "hint", "×" + (e.duplicates + 1) + " received"));
    if (e.detail) item.append(el("span", "detail", e.detail));
    item.title = e.event_id;
    return item;
  });
  if (!items.length) items.push(el("li", "empty", "no events · 无事件"));
  byId("case-timeline").replaceChildren(...items);
}

function startSearch() {
  byId("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = byId("search-input").value.trim();
    if (q) go("#/search?q=" + encodeURIComponent(q));
  });
}
