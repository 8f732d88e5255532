// Small SVG charts for the analytics and usage pages, drawn here (no chart library): a time
// series, horizontal bars and a histogram. Colours come from CSS classes (series-0 … 5,
// app.css), so light and dark themes and the CSP (no inline styles) hold. Every chart is a
// <figure role="img"> with a label saying what it shows; an empty one says "No data".

const SVG_NS = "http://www.w3.org/2000/svg";
// the drawing's width in CSS pixels: the caller passes the width it will be shown at, so
// text keeps its size on a phone and on a wide screen (set by each chart function)
let W = 640;

function setWidth(width) {
  W = Math.round(Math.max(280, Math.min(1400, width || 640)));
}

/** Axis labels: whole numbers stay whole, fractions get one decimal. */
export function tickNumber(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 1 : 0);
}
const PAD = { top: 12, right: 12, bottom: 28, left: 56 };

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function figure(label, svg, legend) {
  const fig = document.createElement("figure");
  fig.className = "chart";
  fig.setAttribute("role", "img");
  fig.setAttribute("aria-label", label);
  fig.append(svg);
  if (legend) fig.append(legend);
  return fig;
}

function emptyChart(label, height, message) {
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", "aria-hidden": "true" });
  svg.append(svgEl("rect", { x: 0.5, y: 0.5, width: W - 1, height: height - 1, rx: 8, class: "chart-frame" }));
  svg.append(svgEl("text", { x: W / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" }, message));
  return figure(`${label}: ${message}`, svg);
}

/** A "nice" maximum for an axis: 1, 2 or 5 times a power of ten, at least `max`. */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

function legendOf(names) {
  const list = document.createElement("ul");
  list.className = "chart-legend";
  names.forEach((name, i) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `chart-swatch series-${i % 6}`;
    swatch.setAttribute("aria-hidden", "true");
    item.append(swatch, document.createTextNode(name));
    list.append(item);
  });
  return list;
}

function yAxis(svg, max, height, format) {
  const plotH = height - PAD.top - PAD.bottom;
  const lead = Math.round(max / 10 ** Math.floor(Math.log10(max)));
  const steps = lead === 5 || lead === 10 ? 5 : 4; // round numbers on every line
  for (let i = 0; i <= steps; i++) {
    const value = (max * i) / steps;
    const y = PAD.top + plotH - (plotH * i) / steps;
    svg.append(svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "chart-grid" }));
    svg.append(svgEl("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "chart-tick" }, format(value)));
  }
}

/**
 * A line per series over `days` (YYYY-MM-DD, every day of the range, so gaps read as zero).
 * series: [{name, values: Map(day -> number)}]
 */
export function timeSeries({ label, days, series, format = String, height = 220, width, empty = "No data in this period" }) {
  setWidth(width);
  const total = series.reduce((sum, s) => sum + [...s.values.values()].reduce((a, b) => a + b, 0), 0);
  if (!days.length || !series.length || !(total > 0)) return emptyChart(label, height, empty);
  const max = niceMax(Math.max(...series.flatMap((s) => [...s.values.values()])));
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", "aria-hidden": "true" });
  yAxis(svg, max, height, format);
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (days.length === 1 ? plotW / 2 : (plotW * i) / (days.length - 1));
  const y = (v) => PAD.top + plotH - (plotH * v) / max;
  const ticks = Math.min(days.length, 6);
  for (let t = 0; t < ticks; t++) {
    const i = ticks === 1 ? 0 : Math.round((t * (days.length - 1)) / (ticks - 1));
    svg.append(svgEl("text", { x: x(i), y: height - 8, "text-anchor": "middle", class: "chart-tick" }, days[i].slice(5)));
  }
  series.forEach((s, n) => {
    const points = days.map((day, i) => `${x(i).toFixed(1)},${y(s.values.get(day) ?? 0).toFixed(1)}`);
    svg.append(svgEl("polyline", { points: points.join(" "), class: `chart-line series-${n % 6}` }));
    if (days.length <= 45) {
      days.forEach((day, i) => {
        const v = s.values.get(day) ?? 0;
        const dot = svgEl("circle", { cx: x(i), cy: y(v), r: 2.5, class: `chart-dot series-${n % 6}` });
        dot.append(svgEl("title", {}, `${s.name}, ${day}: ${format(v)}`));
        svg.append(dot);
      });
    }
  });
  return figure(label, svg, legendOf(series.map((s) => s.name)));
}

/** Horizontal bars: items [{label, value, text?}] (value >= 0), largest first as given. */
export function bars({ label, items, format = String, width, empty = "No data in this period" }) {
  setWidth(width);
  const shown = items.filter((item) => item.value > 0 || item.text);
  const rowH = 28;
  const height = Math.max(1, shown.length) * rowH + 8;
  if (!shown.length) return emptyChart(label, 120, empty);
  const max = niceMax(Math.max(...shown.map((item) => item.value)));
  const labelW = Math.min(170, W * 0.34);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", "aria-hidden": "true" });
  shown.forEach((item, i) => {
    const y = 4 + i * rowH;
    const room = Math.floor(labelW / 7);
    const name = item.label.length > room ? `${item.label.slice(0, room - 1)}…` : item.label;
    svg.append(svgEl("text", { x: labelW - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "chart-label" }, name));
    const width = ((W - labelW - 100) * item.value) / max;
    const bar = svgEl("rect", { x: labelW, y: y + 5, width: Math.max(width, 1), height: rowH - 10, rx: 3, class: `chart-bar series-${i % 6}` });
    bar.append(svgEl("title", {}, `${item.label}: ${item.text ?? format(item.value)}`));
    svg.append(bar);
    svg.append(svgEl("text", { x: labelW + width + 6, y: y + rowH / 2 + 4, class: "chart-value" }, item.text ?? format(item.value)));
  });
  return figure(label, svg);
}

/** A latency histogram: bins [{low_ms, high_ms, count}] on a log scale of time. */
export function histogram({ label, bins, format = String, height = 200, width, empty = "No calls in this period" }) {
  setWidth(width);
  const filled = bins.filter((b) => b.count > 0);
  if (!filled.length) return emptyChart(label, height, empty);
  const lo = Math.max(0.5, Math.min(...filled.map((b) => b.low_ms || 0.5)));
  const hi = Math.max(...filled.map((b) => b.high_ms ?? b.low_ms * 2));
  const span = Math.log(hi / lo) || 1;
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (ms) => PAD.left + (plotW * Math.log(Math.max(ms, lo) / lo)) / span;
  const max = Math.max(4, niceMax(Math.max(...filled.map((b) => b.count))));
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", "aria-hidden": "true" });
  yAxis(svg, max, height, tickNumber);
  for (const b of filled) {
    const left = x(b.low_ms || lo);
    const right = x(b.high_ms ?? b.low_ms * 2);
    const h = (plotH * b.count) / max;
    const rect = svgEl("rect", { x: left, y: PAD.top + plotH - h, width: Math.max(right - left - 1, 1.5), height: h, class: "chart-bar series-0" });
    const range = b.high_ms === null ? `≥ ${format(b.low_ms)}` : `${format(b.low_ms)}–${format(b.high_ms)}`;
    rect.append(svgEl("title", {}, `${range}: ${b.count} calls`));
    svg.append(rect);
  }
  for (const ms of [lo, Math.sqrt(lo * hi), hi]) {
    svg.append(svgEl("text", { x: x(ms), y: height - 8, "text-anchor": "middle", class: "chart-tick" }, format(ms)));
  }
  return figure(label, svg);
}

/** Every UTC day from `from` to `to` (YYYY-MM-DD), both included. */
export function daysBetween(from, to) {
  const out = [];
  const day = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  while (day <= end && out.length < 400) {
    out.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return out;
}
