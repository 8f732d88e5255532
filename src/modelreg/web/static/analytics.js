// The analytics page (/analytics) and the usage page (/usage): GET /api/analytics/models for
// a range of UTC days, drawn as charts (charts.js) and tables, with CSV downloads.
import { api } from "./api.js";
import { bars, daysBetween, histogram, tickNumber, timeSeries } from "./charts.js";
import { el, formatCost, formatLatency, formatTokens, latestOnly } from "./ui.js";

const $ = (id) => document.getElementById(id);
const page = $("analytics-page");
const usage = page.dataset.mode === "usage";
const admin = page.dataset.admin === "true";
const dom = {
  form: $("an-filters"), from: $("an-from"), to: $("an-to"), source: $("an-source"),
  error: $("an-error"), summary: $("an-summary"), charts: $("an-charts"),
  models: $("an-models"), days: $("an-days"), users: $("an-users"), downloads: $("an-downloads"),
};

const money = (v) => formatCost(v) || "$0";
const ms = (v) => (v === null || v === undefined ? "–" : formatLatency(v));
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)} %`);
const int = (v) => formatTokens(v ?? 0);

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function params() {
  const query = new URLSearchParams({ from: dom.from.value, to: dom.to.value });
  if (dom.source?.value) query.set("source", dom.source.value);
  if (usage && admin) query.set("user_id", page.dataset.userId); // an admin's own spend
  return query;
}

function card(label, value, hint) {
  return el("div", { class: "card an-card" }, el("div", { class: "an-card-label muted" }, label),
    el("div", { class: "an-card-value" }, value), hint ? el("div", { class: "an-card-hint muted" }, hint) : null);
}

function table(node, columns, rows, emptyText) {
  if (!node) return;
  const head = el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : "" }, c.label))));
  const body = el("tbody");
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colspan: String(columns.length), class: "muted" }, emptyText)));
  }
  for (const row of rows) {
    body.append(el("tr", {}, columns.map((c) => el("td", { class: c.num ? "num" : "", "data-label": c.label }, c.value(row)))));
  }
  node.replaceChildren(head, body);
}

function downloads() {
  const tables = usage ? ["models", "days"] : admin ? ["models", "days", "users"] : ["models", "days"];
  dom.downloads.replaceChildren("CSV: ", ...tables.flatMap((t, i) => {
    const query = params();
    query.set("table", t);
    const link = el("a", { href: `/api/analytics/models.csv?${query}`, download: "" }, t);
    return i ? [" · ", link] : [link];
  }));
}

function perDay(report, key, names) {
  const series = names.map((name) => ({ name, values: new Map() }));
  const index = new Map(names.map((name, i) => [name, i]));
  for (const row of report.days) {
    const n = index.get(row.model_name);
    if (n === undefined) continue;
    const value = key === "cost" ? Number(row.cost) : row[key];
    series[n].values.set(row.day, (series[n].values.get(row.day) ?? 0) + value);
  }
  return series;
}

function totalPerDay(report) {
  const values = new Map();
  for (const row of report.days) values.set(row.day, (values.get(row.day) ?? 0) + Number(row.cost));
  return [{ name: "Spend", values }];
}

let shown = null; // the last report, redrawn at the new width when the window changes size

/** The width a chart is shown at: its grid cell, less the card's padding. */
function chartWidth(wide) {
  const grid = dom.charts.clientWidth || 640;
  const twoColumns = grid >= 2 * 420 + 12;
  return (wide || !twoColumns ? grid : (grid - 12) / 2) - 34;
}

function drawCharts(report) {
  const days = daysBetween(report.from, report.to);
  const width = chartWidth(false);
  const top = report.models.slice(0, 6).map((m) => m.model_name);
  const figures = [];
  if (usage) {
    figures.push(section("Spend per day", timeSeries({ label: "Spend per day", days, series: totalPerDay(report), format: money, width })));
    figures.push(section("Spend per model", bars({ label: "Spend per model", format: money, width,
      items: report.models.map((m) => ({ label: m.model_name, value: Number(m.cost), text: money(m.cost) })) })));
  } else {
    figures.push(section("Requests per day", timeSeries({ label: "Requests per day, by model", days, series: perDay(report, "requests", top), format: tickNumber, width })));
    figures.push(section("Cost per day", timeSeries({ label: "Cost per day, by model", days, series: perDay(report, "cost", top), format: money, width })));
    figures.push(section("Latency per model (p50 · p95)", bars({ label: "Median latency per model", format: ms, width,
      items: report.models.map((m) => ({ label: m.model_name, value: m.latency_p50_ms ?? 0,
        text: m.latency_p50_ms === null ? "" : `${ms(m.latency_p50_ms)} · ${ms(m.latency_p95_ms)}` })) })));
    figures.push(section("Cost per model", bars({ label: "Cost per model", format: money, width,
      items: report.models.map((m) => ({ label: m.model_name, value: Number(m.cost), text: money(m.cost) })) })));
    figures.push(latencySection(report));
  }
  dom.charts.replaceChildren(...figures);
  dom.charts.setAttribute("aria-busy", "false");
}

function section(title, chart) {
  return el("section", { class: "card an-chart" }, el("h2", { class: "an-h2" }, title), chart);
}

function latencySection(report) {
  const holder = el("div");
  const pick = el("select", { class: "input input-sm", "aria-label": "Model of the latency distribution" },
    report.models.map((m, i) => el("option", { value: String(i) }, m.model_name)));
  const draw = () => {
    const model = report.models[Number(pick.value)];
    holder.replaceChildren(histogram({ label: model ? `Latency distribution of ${model.model_name}` : "Latency distribution",
      bins: model?.latency_histogram ?? [], format: ms, width: chartWidth(true) }));
  };
  pick.addEventListener("change", draw);
  draw();
  return el("section", { class: "card an-chart an-wide" },
    el("div", { class: "an-chart-head" }, el("h2", { class: "an-h2" }, "Latency distribution"), report.models.length ? pick : null),
    holder);
}

function render(report) {
  shown = report;
  const t = report.totals;
  const scope = report.scope === "everyone" ? "everyone" : "you";
  dom.summary.replaceChildren(
    card(usage ? "Spent" : "Cost", money(t.cost), `${report.from} – ${report.to}`),
    card("Requests", int(t.requests), `by ${scope}`),
    card("Errors", pct(t.error_rate), `${int(t.errors)} failed calls`),
    card("Tokens", `${int(t.input_tokens)} in`, `${int(t.output_tokens)} out`),
  );
  drawCharts(report);
  const name = { label: "Model", value: (m) => m.model_name };
  if (usage) {
    table(dom.models, [name, { label: "Requests", num: true, value: (m) => int(m.requests) },
      { label: "Tokens in", num: true, value: (m) => int(m.input_tokens) },
      { label: "Tokens out", num: true, value: (m) => int(m.output_tokens) },
      { label: "Spent", num: true, value: (m) => money(m.cost) }], report.models, "No usage in this period.");
    const byDay = new Map();
    for (const d of report.days) {
      const acc = byDay.get(d.day) ?? { day: d.day, requests: 0, cost: 0 };
      acc.requests += d.requests;
      acc.cost += Number(d.cost);
      byDay.set(d.day, acc);
    }
    table(dom.days, [{ label: "Day", value: (d) => d.day }, { label: "Requests", num: true, value: (d) => int(d.requests) },
      { label: "Spent", num: true, value: (d) => money(d.cost) }], [...byDay.values()].reverse(), "No usage in this period.");
  } else {
    table(dom.models, [name,
      { label: "Requests", num: true, value: (m) => int(m.requests) },
      { label: "Error rate", num: true, value: (m) => pct(m.error_rate) },
      { label: "p50", num: true, value: (m) => ms(m.latency_p50_ms) },
      { label: "p95", num: true, value: (m) => ms(m.latency_p95_ms) },
      { label: "First token p50", num: true, value: (m) => ms(m.ttft_p50_ms) },
      { label: "Tokens in / out", num: true, value: (m) => `${int(m.input_tokens)} / ${int(m.output_tokens)}` },
      { label: "Cost", num: true, value: (m) => money(m.cost) },
      { label: "Rated good", num: true, value: (m) => (m.feedback_score === null ? "–" : `${pct(m.feedback_score)} of ${m.ratings_up + m.ratings_down}`) },
    ], report.models, "No traffic in this period.");
    if (report.users) {
      table(dom.users, [{ label: "User", value: (u) => u.username ?? "(deleted)" },
        { label: "Requests", num: true, value: (u) => int(u.requests) },
        { label: "Error rate", num: true, value: (u) => pct(u.error_rate) },
        { label: "Tokens in / out", num: true, value: (u) => `${int(u.input_tokens)} / ${int(u.output_tokens)}` },
        { label: "Cost", num: true, value: (u) => money(u.cost) }], report.users, "No traffic in this period.");
    }
  }
}

const reportLoad = latestOnly();

async function load() {
  dom.error.hidden = true;
  downloads();
  history.replaceState({}, "", `?${params()}`);
  const isLatest = reportLoad();
  try {
    const report = await api.get(`/api/analytics/models?${params()}`);
    if (isLatest()) render(report); // else a newer period was asked for meanwhile
  } catch (err) {
    if (!isLatest()) return;
    dom.error.textContent = err.message;
    dom.error.hidden = false;
    dom.charts.setAttribute("aria-busy", "false");
    dom.charts.replaceChildren();
  }
}

function start() {
  const query = new URLSearchParams(location.search);
  const today = new Date();
  const monthAgo = new Date(Date.now() - 29 * 86400000);
  dom.from.value = query.get("from") || isoDay(monthAgo);
  dom.to.value = query.get("to") || isoDay(today);
  if (dom.source) dom.source.value = query.get("source") || "";
  dom.form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
}

let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => shown && drawCharts(shown), 150);
});

start();
