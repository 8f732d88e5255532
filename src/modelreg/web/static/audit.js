// The audit log page (admins): newest first; actor, action and time filters ask the server,
// the search box filters what was loaded.
import { api, asList } from "./api.js";
import { el, formatDate, latestOnly } from "./ui.js";

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
  const all = keys;
  const hidden = created ? keys.filter((key) => !IDENTIFYING.includes(key)).length : Math.max(0, keys.length - 6);
  keys = created ? IDENTIFYING.filter((key) => keys.includes(key)) : keys.slice(0, 6);
  if (!keys.length && !hidden) return el("span", { class: "subtle" }, "—");
  const show = (value) => (value === undefined ? "∅" : typeof value === "string" ? value : JSON.stringify(value));
  const chip = (key) => {
    const text = !(key in before) ? `${key}: ${show(after[key])}`
      : !(key in after) ? `${key} removed`
      : `${key}: ${show(before[key])} → ${show(after[key])}`;
    return el("span", { class: "badge", title: text }, text.length > 60 ? `${text.slice(0, 57)}…` : text);
  };
  const chips = el("span", { class: "chips" }, ...keys.map(chip));
  if (hidden) {
    // "+N more" shows the rest in place
    const more = el("button", {
      class: "badge subtle badge-button", type: "button", "aria-expanded": "false",
      onclick: () => chips.replaceChildren(...all.map(chip)),
    }, `+${hidden} more`);
    chips.append(more);
  }
  return chips;
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

function localToIso(value) {
  // datetime-local has no zone: it is the reader's local time
  return value ? new Date(value).toISOString() : "";
}

function query() {
  const params = new URLSearchParams({ limit: "500" });
  const actor = $("audit-actor").value.trim();
  if (actor) params.set("actor", actor);
  if ($("audit-action").value) params.set("action", $("audit-action").value);
  if ($("audit-since").value) params.set("since", localToIso($("audit-since").value));
  if ($("audit-until").value) params.set("until", localToIso($("audit-until").value));
  return params;
}

const actorsSeen = new Set();

const auditLoad = latestOnly();

async function load() {
  const isLatest = auditLoad();
  try {
    const loaded = asList(await api.get(`/api/audit?${query()}`), "entries");
    if (!isLatest()) return; // a newer filter was applied while this answer was on its way
    entries = loaded;
    for (const e of entries) {
      if (e.actor_name && !actorsSeen.has(e.actor_name)) {
        actorsSeen.add(e.actor_name);
        $("audit-actors").append(el("option", { value: e.actor_name }));
      }
    }
  } catch (err) {
    if (!isLatest()) return;
    $("audit-body").replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 5 }, `Couldn't load the audit log: ${err.message}`)));
    return;
  }
  render();
}

$("audit-filter").addEventListener("input", render);
for (const id of ["audit-actor", "audit-action", "audit-since", "audit-until"]) {
  $(id).addEventListener("change", load);
}
$("audit-filters").addEventListener("submit", (event) => {
  event.preventDefault(); // Enter in a field applies the filters
  load();
});
load();
