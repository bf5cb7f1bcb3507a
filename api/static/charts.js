// Inline SVG charts (no library, nothing fetched): a line chart of percentages and a bar
// chart of counts, one point or bar per day.

const SVG = "http://www.w3.org/2000/svg";
const CHART = { width: 640, height: 230, left: 44, right: 14, top: 26, bottom: 30 };

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chartFrame(days, max, tickFormat) {
  const { width, height, left, right, top, bottom } = CHART;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "svg-chart" });
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const y = (v) => top + plotH - (plotH * v) / max;
  const x = (i) => left + (days.length <= 1 ? plotW / 2 : (plotW * i) / (days.length - 1));
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    root.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" },
      tickFormat(v)));
  }
  const every = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((day, i) => {
    // Every few days, and the last one unless it would sit on the previous label.
    const last = i === days.length - 1 && i % every >= every / 2;
    if (i % every === 0 || last) {
      root.append(svg("text", { x: x(i), y: height - bottom + 16, class: "tick",
        "text-anchor": "middle" }, day.slice(5)));
    }
  });
  return { root, x, y, plotW };
}

function legend(root, entries) {
  entries.forEach(([label, className], i) => {
    const at = CHART.left + 8 + i * 200;
    root.append(svg("rect", { x: at, y: 4, width: 10, height: 10, class: className }));
    root.append(svg("text", { x: at + 14, y: 13, class: "legend" }, label));
  });
}

// series: [{ label, className, values: [number|null, …] }] over `days`, in percent.
function lineChart(container, days, series) {
  const { root, x, y } = chartFrame(days, 100, (v) => v.toFixed(0) + "%");
  for (const s of series) {
    let path = "";
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      path += (path && s.values[i - 1] !== null ? " L" : " M") + x(i).toFixed(1) + "," + y(v).toFixed(1);
      const dot = svg("circle", { cx: x(i), cy: y(v), r: 2.5, class: "dot " + s.className });
      dot.append(svg("title", {}, days[i] + " " + s.label + ": " + v.toFixed(1) + "%"));
      root.append(dot);
    });
    if (path) root.append(svg("path", { d: path.trim(), class: "line " + s.className }));
  }
  legend(root, series.map((s) => [s.label, "key " + s.className]));
  container.replaceChildren(root);
}

// series: [{ label, className, values: [number, …] }] drawn side by side per day.
function barChart(container, days, series) {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const nice = niceCeiling(max);
  const { root, x, y, plotW } = chartFrame(days, nice, (v) => numbers.format(Math.round(v)));
  const slot = plotW / Math.max(days.length, 1);
  const bar = Math.max(2, (slot * 0.7) / series.length);
  series.forEach((s, k) => {
    s.values.forEach((v, i) => {
      const left = x(i) - (bar * series.length) / 2 + k * bar;
      const rect = svg("rect", { x: left, y: y(v), width: bar, height: Math.max(0, y(0) - y(v)),
        class: "bar " + s.className });
      rect.append(svg("title", {}, days[i] + " " + s.label + ": " + numbers.format(v)));
      root.append(rect);
    });
  });
  legend(root, series.map((s) => [s.label, "key " + s.className]));
  container.replaceChildren(root);
}

// The top of the scale: four grid steps of a whole, round size (1, 2, 3, 5 × 10^n).
function niceCeiling(value) {
  const quarter = Math.max(1, value / 4);
  const power = 10 ** Math.floor(Math.log10(quarter));
  for (const step of [1, 2, 3, 5, 10]) if (step * power >= quarter) return 4 * step * power;
  return 40 * power;
}
