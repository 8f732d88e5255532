// The A/B experiments page: list, create (a draft), start / pause / stop, and results with
// their intervals and verdict. Everything user-controlled goes in through textContent.
import { api, asList } from "./api.js";
import { confirmDialog, el, formatCost, formatLatency, icon, toast, wireDialog } from "./ui.js";

const $ = (id) => document.getElementById(id);
let experiments = [];
let models = [];
const MAX_ARMS = 8;

const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)} %`);
const signed = (x, scale, unit) => `${x * scale >= 0 ? "+" : ""}${(x * scale).toPrecision(3)}${unit}`;
/** "+1.20 pts (−0.5 to +3.1)": an estimate with its interval. */
function interval(value, scale = 1, unit = "") {
  if (!value) return el("span", { class: "subtle" }, "not enough data");
  return el("span", { class: "nowrap" }, signed(value.estimate, scale, unit),
    el("span", { class: "subtle" }, ` (${signed(value.low, scale, unit)} to ${signed(value.high, scale, unit)})`));
}

function statusBadge(status) {
  const kind = { running: "badge-success", paused: "badge-warning", stopped: "badge-danger" }[status] ?? "";
  return el("span", { class: `badge ${kind}` }, status);
}

function actions(x) {
  const act = (verb, label) => el("button", {
    class: "btn btn-secondary btn-sm", type: "button", "aria-label": `${label} ${x.name}`,
    onclick: () => move(x, verb),
  }, label);
  const buttons = [];
  if (x.status === "draft" || x.status === "paused") buttons.push(act("start", "Start"));
  if (x.status === "running") buttons.push(act("pause", "Pause"));
  if (x.status !== "stopped") buttons.push(act("stop", "Stop"));
  buttons.push(el("button", {
    class: "btn btn-ghost btn-sm", type: "button", "aria-label": `Results of ${x.name}`,
    onclick: () => showResults(x),
  }, "Results"));
  buttons.push(el("button", {
    class: "btn-icon btn-icon-sm", type: "button", "aria-label": `Delete ${x.name}`,
    onclick: () => remove(x),
  }, icon("trash")));
  return el("div", { class: "row-actions" }, ...buttons);
}

function render() {
  const body = $("experiments-body");
  if (!experiments.length) {
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 4 },
      "No experiments yet. Create one to compare models on real traffic.")));
    return;
  }
  body.replaceChildren(...experiments.map((x) => el("tr", { "data-testid": "experiment-row" },
    el("td", { "data-label": "Experiment" }, el("span", { class: "cell-name" },
      el("span", { class: "mono" }, x.name),
      el("span", { class: "cell-sub" }, x.is_global ? "company" : "personal", x.description ? ` · ${x.description}` : ""))),
    el("td", { "data-label": "Status" }, statusBadge(x.status)),
    el("td", { "data-label": "Arms" }, x.arms.map((a) => `${a.model_name} ${pct(a.share)}`).join(" · ")),
    el("td", {}, actions(x)),
  )));
}

async function load() {
  try {
    experiments = asList(await api.get("/api/experiments"));
  } catch (err) {
    $("experiments-body").replaceChildren(el("tr", { class: "empty-row" },
      el("td", { colspan: 4 }, `Couldn't load the experiments: ${err.message}`)));
    return;
  }
  render();
}

async function move(x, verb) {
  try {
    await api.post(`/api/experiments/${x.id}/${verb}`);
    toast(`${x.name}: ${verb === "stop" ? "stopped" : verb === "pause" ? "paused" : "running"}`, "success");
  } catch (err) {
    toast(err.message, "error");
  }
  await load();
}

async function remove(x) {
  const ok = await confirmDialog({ title: "Delete experiment?", message: `${x.name} will be deleted; its requests stay in the usage records.` });
  if (!ok) return;
  try {
    await api.delete(`/api/experiments/${x.id}`);
  } catch (err) {
    toast(err.message, "error");
  }
  $("experiment-results").hidden = true;
  await load();
}

async function showResults(x) {
  const section = $("experiment-results");
  let r;
  try {
    r = await api.get(`/api/experiments/${x.id}/results`);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  $("results-title").textContent = `Results: ${r.name}`;
  $("results-verdict").textContent = r.verdict;
  $("results-method").textContent = r.method;
  $("results-arms").replaceChildren(...r.arms.map((a) => el("tr", {},
    el("td", { "data-label": "Arm" }, a.model_name),
    el("td", { "data-label": "Requests" }, `${a.requests} (${a.errors} errors)`),
    el("td", { "data-label": "Error rate" }, a.error_rate
      ? `${pct(a.error_rate.estimate)} (${pct(a.error_rate.low)} to ${pct(a.error_rate.high)})` : "—"),
    el("td", { "data-label": "Latency" }, a.latency_p50_ms === null ? "—"
      : `${formatLatency(a.latency_p50_ms)} / ${formatLatency(a.latency_p95_ms)}`),
    el("td", { "data-label": "TTFT p50" }, a.ttft_p50_ms === null ? "—" : formatLatency(a.ttft_p50_ms)),
    el("td", { "data-label": "Tokens in / out" }, `${a.input_tokens} / ${a.output_tokens}`),
    el("td", { "data-label": "Cost / request" }, a.cost_per_request === null ? "—" : formatCost(a.cost_per_request)),
    el("td", { "data-label": "Feedback" }, !a.feedback ? "no feedback data"
      : a.feedback.ratings ? `${a.feedback.score.toFixed(2)} (${a.feedback.up} 👍 ${a.feedback.down} 👎)` : "no ratings"),
  )));
  $("results-comparisons").replaceChildren(...r.comparisons.map((c) => el("tr", {},
    el("td", { "data-label": "Arm" }, c.model_name),
    el("td", { "data-label": "Error rate" }, interval(c.error_rate, 100, " pts")),
    el("td", { "data-label": "Latency p50" }, interval(c.latency_p50_ms, 1, " ms")),
    el("td", { "data-label": "Cost / request" }, interval(c.cost_per_request, 1, " $")),
    el("td", { "data-label": "Sequential" }, interval(c.sequential_error_rate, 100, " pts")),
    el("td", { "data-label": "Verdict" }, c.verdict ?? el("span", { class: "subtle" }, "no verdict yet")),
  )));
  section.hidden = false;
  section.scrollIntoView({ block: "start" });
}

// --- the create dialog ---------------------------------------------------------------------

function armRow(index) {
  const select = el("select", { class: "select", "aria-label": `Model of arm ${index + 1}`, name: "model_id" },
    ...models.map((m) => el("option", { value: m.id }, `${m.name}${m.is_global ? " (company)" : ""}`)));
  if (models[index]) select.value = models[index].id;
  const weight = el("input", {
    class: "input input-sm", type: "number", min: "0", step: "any", value: "1",
    "aria-label": `Weight of arm ${index + 1}`, name: "weight",
  });
  return el("div", { class: "arm-row" }, select, weight,
    el("p", { class: "field-error", "data-error-for": `arms.${index}` }));
}

function resetForm() {
  $("experiment-form").reset();
  $("experiment-form-error").hidden = true;
  for (const node of document.querySelectorAll("#experiment-form .field-error")) node.textContent = "";
  $("x-arms").replaceChildren(armRow(0), armRow(1));
}

async function openDialog() {
  try {
    models = asList(await api.get("/api/models")).filter((m) => m.enabled);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  resetForm();
  $("experiment-dialog").showModal();
  $("x-name").focus();
}

async function submit(event) {
  event.preventDefault();
  const rows = [...$("x-arms").querySelectorAll(".arm-row")];
  const body = {
    name: $("x-name").value.trim(),
    description: $("x-description").value.trim(),
    arms: rows.map((row) => ({
      model_id: row.querySelector("select").value,
      weight: Number(row.querySelector("input").value),
    })),
    is_global: $("x-global")?.checked ?? false,
  };
  for (const node of document.querySelectorAll("#experiment-form .field-error")) node.textContent = "";
  try {
    await api.post("/api/experiments", body);
  } catch (err) {
    const box = $("experiment-form-error");
    box.textContent = err.message;
    box.hidden = false;
    return;
  }
  $("experiment-dialog").close();
  toast(`Created ${body.name}: start it to route requests`, "success");
  await load();
}

wireDialog($("experiment-dialog"));
$("add-experiment").addEventListener("click", openDialog);
$("x-add-arm").addEventListener("click", () => {
  const count = $("x-arms").children.length;
  if (count < MAX_ARMS) $("x-arms").append(armRow(count));
});
$("experiment-form").addEventListener("submit", submit);
load();
