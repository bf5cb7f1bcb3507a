// The overview: six figures, the counts by status and the newest breaches and oldest pending
// deadlines, from /v1/summary.

VIEWS.overview = {
  title: "Operations overview · 运营总览",
  async show() {
    const s = await api("/v1/summary");
    if (s) renderOverview(s);
  },
};

function renderOverview(s) {
  stamp(s.generated_at);
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
    // "judgement paused, ingest behind by N s" while the oldest accepted message waits.
    ingest_status: !s.ingest ? "–" : s.ingest.paused ? s.ingest.status + " · 判定暂停"
      : "caught up 已跟上 (" + numbers.format(s.ingest.unapplied) + " in flight)",
  });
  tone("t-violations", (s.breaches.open || 0) > 0 ? "bad" : "ok");
  tone("t-overdue", s.deadlines.overdue > 0 ? "bad" : "ok");
  tone("t-pending", s.deadlines.at_risk > 0 ? "warn" : "ok");
  // Held money waits for a person; a tripped guard holds everything: both need one now.
  tone("t-points", guard.tripped || guard.held.count > 0 ? "bad"
    : comp.failed && comp.failed.count > 0 ? "warn" : "ok");
  // A backlog of a few messages is the relay's normal batch; a minute-old one is stuck.
  const stuck = (s.outbox.oldest_age_seconds || 0) > 60;
  tone("t-plumbing", s.ingest && s.ingest.paused ? "bad"
    : s.dead_letters.unreplayed > 0 || stuck ? "warn" : "ok");

  countRows("cases", s.cases, LABELS.cases, (n) => [numbers.format(n)]);
  countRows("breaches", s.breaches, LABELS.breaches, (n) => [numbers.format(n)]);
  countRows("compensations", comp, LABELS.compensations,
    (t) => [numbers.format(t.count), numbers.format(t.points)]);

  listRows("recent-breaches", s.recent_breaches, 6, "no breaches yet · 暂无违约", (b) => [
    caseLink(b.case_id), cell(kind(b.kind)), cell(when(b.due_at)), cell(when(b.detected_at)),
    cell(numbers.format(b.points), "num"), pill(b.status),
  ]);
  listRows("oldest-pending", s.oldest_pending_deadlines, 5, "nothing pending · 无待判定", (d) => [
    caseLink(d.case_id), cell(kind(d.kind)), cell(when(d.due_at)), cell(when(d.judge_at)),
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
    const row = el("tr");
    row.append(cell(labels[status] || status));
    for (const text of values(value)) row.append(cell(text, "num"));
    return row;
  });
  byId(id).replaceChildren(...rows);
}
