// The audit log page (admins): newest first, filtered in the page.
import { api, asList } from "./api.js";
import { el, formatDate } from "./ui.js";

const $ = (id) => document.getElementById(id);
let entries = [];

// bookkeeping fields that say nothing to a reader of the log
const QUIET = new Set(["id", "user_id", "created_at", "updated_at", "last_used_at", "source"]);
// on a create, these identify the new thing; the rest is "+N more"
const IDENTIFYING = ["name", "username", "role", "provider", "model_id", "is_global", "enabled"];

/** "field: a → b" for what changed; secrets are never in the log to begin with. */
function changeSummary(entry) {
  const before = entry.before ?? {};
  const after = entry.after ?? {};
  let keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => !QUIET.has(key) && JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
  const created = !entry.before && entry.after;
  const hidden = created ? keys.filter((key) => !IDENTIFYING.includes(key)).length : Math.max(0, keys.length - 6);
  keys = created ? IDENTIFYING.filter((key) => keys.includes(key)) : keys.slice(0, 6);
  if (!keys.length && !hidden) return el("span", { class: "subtle" }, "—");
  const show = (value) => (value === undefined ? "∅" : typeof value === "string" ? value : JSON.stringify(value));
  return el(
    "span",
    { class: "chips" },
    ...keys.map((key) => {
      const text = !(key in before) ? `${key}: ${show(after[key])}`
        : !(key in after) ? `${key} removed`
        : `${key}: ${show(before[key])} → ${show(after[key])}`;
      return el("span", { class: "badge", title: text }, text.length > 60 ? `${text.slice(0, 57)}…` : text);
    }),
    hidden ? el("span", { class: "badge subtle" }, `+${hidden} more`) : null,
  );
}

function shortId(id) {
  const text = String(id ?? "");
  return /^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(text) ? `${text.slice(0, 8)}…` : text;
}

function actionBadge(action) {
  const verb = String(action ?? "").split(".").pop();
  const kind = verb === "delete" ? "badge-danger" : verb === "create" ? "badge-success" : "badge-accent";
  return el("span", { class: `badge ${kind} mono` }, action);
}

function render() {
  const query = $("audit-filter").value.trim().toLowerCase();
  const rows = entries.filter((e) => !query
    || `${e.actor_name} ${e.action} ${e.target_type} ${e.target_id}`.toLowerCase().includes(query));
  const body = $("audit-body");
  if (!rows.length) {
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 5 }, entries.length ? "No entries match" : "Nothing has happened yet")));
    return;
  }
  body.replaceChildren(...rows.map((e) => el(
    "tr",
    { "data-testid": "audit-row" },
    el("td", { class: "subtle nowrap" }, formatDate(e.created_at)),
    el("td", { "data-label": "Actor" }, e.actor_name ?? "system"),
    el("td", { "data-label": "Action" }, actionBadge(e.action)),
    el("td", { "data-label": "Target" }, el("span", { class: "cell-name" },
      el("span", {}, e.target_type ?? ""), el("span", { class: "cell-sub mono nowrap", title: e.target_id ?? "" }, shortId(e.target_id)))),
    el("td", { "data-label": "Change" }, changeSummary(e)),
  )));
}

async function load() {
  try {
    entries = asList(await api.get("/api/audit"), "entries");
  } catch (err) {
    $("audit-body").replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 5 }, `Couldn't load the audit log: ${err.message}`)));
    return;
  }
  render();
}

$("audit-filter").addEventListener("input", render);
load();
