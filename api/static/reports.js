// Compliance (#/reports): 30-day trend charts, the worst merchants and providers of the
// last 7 days (by open violations, 违背承诺), and the full report by any dimension,
// sortable by clicking a heading, one page at a time. The period is in the address, so a
// report can be linked: #/reports?by=city&since=2026-11-01&until=2026-11-08&sort=cases.

const DAY_MS = 86400 * 1000;
const REPORT_PAGE = 25;
const REPORT_COLUMNS = [
  ["key", "group 分组", (r) => (r.key === null ? "(none 无)" : r.key)],
  ["cases", "cases 单量", (r) => numbers.format(r.cases)],
  ["response_met_pct", "resp met 响应达成", (r) => percent(r.response_met_pct)],
  ["resolution_met_pct", "resol met 解决达成", (r) => percent(r.resolution_met_pct)],
  ["breaches_open", "open 违背承诺", (r) => numbers.format(r.breaches_open)],
  ["breaches_settled", "settled 已赔付", (r) => numbers.format(r.breaches_settled)],
  ["breaches_contested", "contested 争议", (r) => numbers.format(r.breaches_contested)],
  ["points_paid", "points paid 已发积分", (r) => numbers.format(r.points_paid)],
  ["response_median_seconds", "resp p50", (r) => duration(r.response_median_seconds)],
  ["response_p90_seconds", "resp p90", (r) => duration(r.response_p90_seconds)],
  ["resolution_median_seconds", "resol p50", (r) => duration(r.resolution_median_seconds)],
  ["resolution_p90_seconds", "resol p90", (r) => duration(r.resolution_p90_seconds)],
];

VIEWS.reports = {
  title: "Compliance reports · 合规报表",
  refreshMs: 60 * 1000,
  async show(route) {
    const who = await api("/v1/whoami");
    if (!who) return;
    syncClock(who.now);
    stamp(who.now);
    const tomorrow = shanghaiDate(serverNow() + DAY_MS);
    const last = (days) => shanghaiDate(serverNow() - (days - 1) * DAY_MS);
    const p = route.params;
    const query = {
      by: p.get("by") || "merchant",
      since: p.get("since") || last(30),
      until: p.get("until") || tomorrow,
      sort: p.get("sort") || "",
      order: p.get("order") || "desc",
      offset: Number(p.get("offset") || 0),
    };
    await Promise.all([
      trend(last(30), tomorrow),
      worst("merchant", "worst-merchants", last(7), tomorrow),
      worst("provider", "worst-providers", last(7), tomorrow),
      reportTable(query),
    ]);
  },
};

function reportPath(by, params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) search.set(name, value);
  }
  return "/v1/reports/" + encodeURIComponent(by) + "?" + search.toString();
}

async function trend(since, until) {
  const report = await api(reportPath("day", { since, until, order: "asc", limit: 40 }));
  if (!report || report.error) return;
  const byDay = Object.fromEntries(report.rows.map((r) => [r.key, r]));
  const days = [];
  for (let at = Date.parse(since + "T00:00:00+08:00"); shanghaiDate(at) < until; at += DAY_MS) {
    days.push(shanghaiDate(at));
  }
  const pick = (field, empty) => days.map((d) => (byDay[d] ? byDay[d][field] : empty));
  lineChart(byId("chart-met"), days, [
    { label: "response met 响应达成 %", className: "s-response", values: pick("response_met_pct", null) },
    { label: "resolution met 解决达成 %", className: "s-resolution", values: pick("resolution_met_pct", null) },
  ]);
  barChart(byId("chart-volume"), days, [
    { label: "cases 单量", className: "s-cases", values: pick("cases", 0) },
    { label: "open violations 违背承诺", className: "s-open", values: pick("breaches_open", 0) },
  ]);
}

async function worst(by, id, since, until) {
  const report = await api(reportPath(by, { since, until, sort: "breaches_open", limit: 5 }));
  if (!report || report.error) return;
  listRows(id, report.rows, 6, "no cases · 暂无数据", (r) => [
    groupLink(by, r.key), cell(numbers.format(r.breaches_open), "num bad-num"),
    cell(numbers.format(r.cases), "num"), cell(percent(r.response_met_pct), "num"),
    cell(percent(r.resolution_met_pct), "num"), cell(numbers.format(r.points_paid), "num"),
  ]);
}

function groupLink(by, key) {
  // A merchant's id finds its cases; providers are not searchable ids.
  const td = el("td");
  if (key === null || by !== "merchant") {
    td.textContent = key === null ? "(none 无)" : key;
    return td;
  }
  const a = el("a", null, key);
  a.href = "#/search?q=" + encodeURIComponent(key);
  a.title = "this merchant's cases · 查看该商家的求助单";
  td.append(a);
  return td;
}

async function reportTable(query) {
  byId("report-by").value = query.by;
  byId("report-since").value = query.since;
  byId("report-until").value = query.until;
  const report = await api(reportPath(query.by, {
    since: query.since, until: query.until, sort: query.sort, order: query.order,
    offset: query.offset, limit: REPORT_PAGE,
  }));
  if (!report) return;
  if (report.error) return notice("report: " + report.error, "bad");
  byId("report-range").textContent = report.since.slice(0, 16).replace("T", " ") + " → "
    + report.until.slice(0, 16).replace("T", " ") + " · " + numbers.format(report.totals.cases)
    + " cases 单";
  const head = el("tr");
  for (const [field, label] of REPORT_COLUMNS) {
    const th = el("th", field === "key" ? "" : "num");
    const a = el("a", "sort", label + (report.sort === field ? (report.order === "desc" ? " ▼" : " ▲") : ""));
    const order = report.sort === field && report.order === "desc" ? "asc" : "desc";
    a.href = reportHash({ ...query, sort: field, order, offset: 0 });
    th.append(a);
    head.append(th);
  }
  byId("report-head").replaceChildren(head);
  const numeric = (field) => (field === "key" ? "" : "num");
  listRows("report-rows", report.rows, REPORT_COLUMNS.length, "no cases in this period · 此期间无数据",
    (r) => REPORT_COLUMNS.map(([field, , show]) => cell(show(r), numeric(field))));
  const totals = el("tr", "totals");
  totals.append(...REPORT_COLUMNS.map(([field, , show]) => cell(
    field === "key" ? "all 合计 (" + report.groups + ")" : show(report.totals), numeric(field))));
  byId("report-totals").replaceChildren(totals);
  const last = report.offset + report.rows.length;
  byId("report-page").textContent = (report.rows.length ? report.offset + 1 : 0) + "–" + last
    + " of " + report.groups;
  const prev = byId("report-prev");
  const next = byId("report-next");
  prev.disabled = report.offset === 0;
  next.disabled = report.next_offset === null;
  prev.onclick = () => go(reportHash({ ...query, offset: Math.max(0, report.offset - REPORT_PAGE) }));
  next.onclick = () => go(reportHash({ ...query, offset: report.next_offset }));
}

function reportHash(query) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== "" && value !== null && value !== undefined) search.set(name, value);
  }
  return "#/reports?" + search.toString();
}

function startReports() {
  byId("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    go(reportHash({
      by: byId("report-by").value, since: byId("report-since").value,
      until: byId("report-until").value, offset: 0,
    }));
  });
}
