// "At risk now" (#/at-risk): pending deadlines past their warning instant, each counting
// down to its due instant on the server's clock.

VIEWS["at-risk"] = {
  title: "At risk now · 即将超时",
  async show() {
    const data = await api("/v1/at-risk");
    if (!data) return;
    syncClock(data.now);
    stamp(data.now);
    listRows("at-risk-rows", data.deadlines, 9, "nothing at risk · 当前无预警", (d) => [
      caseLink(d.case_id), cell(kind(d.kind)), countdownCell(d.due_at), cell(when(d.due_at)),
      cell(when(d.at_risk_at)), cell(d.merchant_id), cell(d.provider_id || "–"),
      cell(d.city || "–"), cell(numbers.format(d.points), "num"),
    ]);
  },
};
