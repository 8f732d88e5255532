// The compare page: one prompt to 2-4 models, their answers streaming side by side; the blind
// arena (Model A / Model B, vote, reveal) and its Bradley-Terry leaderboard.
import { api, asList, csrfToken, errorFromBody, readEvents } from "./api.js";
import { el, formatCost, formatLatency, latestOnly, toast } from "./ui.js";

const MIN = 2;
const MAX = 4;
const $ = (id) => document.getElementById(id);

const state = { mode: "compare", busy: false, battleId: null, columns: [] };

function isEmbedding(model) {
  const kind = String(model.options?.kind ?? model.options?.type ?? "").toLowerCase();
  return kind.startsWith("embedding") || /embed/i.test(model.model_id);
}

async function loadModels() {
  const box = $("model-checks");
  try {
    const models = asList(await api.get("/api/models"), "models").filter(
      (m) => m.enabled && !isEmbedding(m),
    );
    box.replaceChildren();
    if (models.length < MIN) {
      box.append(el("span", { class: "muted" }, "Add at least two chat models to compare them."));
      return;
    }
    for (const model of models) {
      const input = el("input", { type: "checkbox", name: "model", value: model.id });
      input.addEventListener("change", limitChoice);
      box.append(el("label", {}, input, model.name));
    }
  } catch (err) {
    box.replaceChildren(el("span", { class: "column-error" }, err.message));
  }
}

function chosen() {
  return [...document.querySelectorAll('#model-checks input[name="model"]:checked')].map((i) => i.value);
}

function limitChoice() {
  const full = chosen().length >= MAX;
  for (const input of document.querySelectorAll('#model-checks input[name="model"]')) {
    input.disabled = full && !input.checked;
  }
}

function setMode(mode) {
  state.mode = mode;
  const arena = mode === "arena";
  $("mode-compare").setAttribute("aria-pressed", String(!arena));
  $("mode-arena").setAttribute("aria-pressed", String(arena));
  $("model-choice").hidden = arena;
  $("arena-note").hidden = !arena;
  $("leaderboard").hidden = !arena;
  $("vote-bar").hidden = true;
  $("mode-lead").textContent = arena
    ? "Blind arena: two random models answer; vote for the better one, then see who they were."
    : "One prompt to two to four models at once; their answers stream side by side.";
  $("compare-columns").replaceChildren();
  if (arena) loadBoard();
}

function makeColumns(specs) {
  const box = $("compare-columns");
  box.replaceChildren();
  state.columns = specs.map((spec) => {
    const name = el("span", { class: "column-name" }, spec.title);
    const status = el("span", { class: "muted", role: "status" }, "waiting…");
    const body = el("div", { class: "column-body", "data-testid": `column-${spec.column}` });
    const foot = el("div", { class: "column-foot" });
    const node = el(
      "article",
      { class: "card compare-column", "aria-label": spec.title, dataset: { column: spec.column } },
      el("header", { class: "column-head" }, name, status),
      body,
      foot,
    );
    box.append(node);
    return { node, name, status, body, foot, text: "" };
  });
}

function onColumnEvent(event, data) {
  const column = state.columns[data.column];
  if (!column) return;
  if (event === "meta") {
    column.status.textContent = "answering…";
  } else if (event === "text_delta") {
    column.text += data.text;
    column.body.textContent = column.text;
  } else if (event === "done") {
    column.status.textContent = data.status === "complete" ? "done" : data.status;
    const parts = [];
    if (data.usage) parts.push(`${data.usage.input_tokens} in / ${data.usage.output_tokens} out`);
    if (data.cost !== undefined) parts.push(formatCost(data.cost));
    if (data.latency_ms !== undefined) parts.push(formatLatency(data.latency_ms));
    column.foot.textContent = parts.join(" · ");
  } else if (event === "error") {
    column.status.textContent = "failed";
    column.body.append(el("p", { class: "column-error" }, data.message || "This model could not answer."));
  }
}

async function send(event) {
  event.preventDefault();
  if (state.busy) return;
  const message = $("compare-prompt").value.trim();
  const error = $("compare-error");
  error.textContent = "";
  if (!message) {
    error.textContent = "Write a prompt first.";
    return;
  }
  const arena = state.mode === "arena";
  const ids = chosen();
  if (!arena && (ids.length < MIN || ids.length > MAX)) {
    error.textContent = `Choose ${MIN} to ${MAX} models.`;
    return;
  }
  state.busy = true;
  $("compare-send").disabled = true;
  $("vote-bar").hidden = true;
  try {
    const path = arena ? "/api/arena/battles" : "/api/chat/compare";
    const body = arena ? { message, stream: true } : { model_ids: ids, message, stream: true };
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "text/event-stream",
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(body),
    });
    if (response.status === 401) {
      window.location.assign("/login?next=%2Fcompare");
      return;
    }
    if (!response.ok) {
      let parsed = null;
      try { parsed = await response.json(); } catch { /* not JSON */ }
      throw errorFromBody(response.status, parsed);
    }
    for await (const { event: name, data } of readEvents(response)) {
      if (name === "compare") {
        makeColumns(data.columns.map((c) => ({ column: c.column, title: c.model_name })));
      } else if (name === "battle") {
        state.battleId = data.battle_id;
        makeColumns(data.columns.map((c) => ({ column: c.column, title: `Model ${c.label}` })));
      } else if (name === "end") {
        if (arena) showVote();
      } else {
        onColumnEvent(name, data);
      }
    }
  } catch (err) {
    error.textContent = err.message;
  } finally {
    state.busy = false;
    $("compare-send").disabled = false;
  }
}

function showVote() {
  $("reveal").textContent = "";
  for (const button of document.querySelectorAll("#vote-bar [data-vote]")) {
    button.disabled = false;
    button.setAttribute("aria-pressed", "false");
  }
  $("vote-bar").hidden = false;
}

async function vote(event) {
  const button = event.target.closest("[data-vote]");
  if (!button || !state.battleId) return;
  const buttons = document.querySelectorAll("#vote-bar [data-vote]");
  for (const b of buttons) b.disabled = true;
  try {
    const result = await api.post(`/api/arena/battles/${state.battleId}/vote`, { vote: button.dataset.vote });
    button.setAttribute("aria-pressed", "true");
    result.models.forEach((model, i) => {
      const column = state.columns[i];
      if (!column) return;
      column.name.textContent = `Model ${model.label}: ${model.name}`;
      column.node.setAttribute("aria-label", `Model ${model.label}: ${model.name}`);
    });
    $("reveal").textContent = `Model A was ${result.models[0].name}; Model B was ${result.models[1].name}.`;
    state.battleId = null;
    loadBoard();
  } catch (err) {
    toast(err.message, "error");
    for (const b of buttons) b.disabled = false;
  }
}

function intervalCell(row, lowest, highest) {
  const span = Math.max(highest - lowest, 1);
  const bar = el("span", { class: "interval-bar" });
  bar.style.left = `${((row.rating_low - lowest) / span) * 100}%`;
  bar.style.width = `${Math.max(((row.rating_high - row.rating_low) / span) * 100, 2)}%`;
  return el(
    "td",
    {},
    el("span", { class: "interval", "aria-hidden": "true" }, bar),
    el("span", { class: "interval-text" }, `${Math.round(row.rating_low)} – ${Math.round(row.rating_high)}`),
  );
}

// the board is reloaded after a vote and on a scope change: only the latest request paints
const boardLoad = latestOnly();

async function loadBoard() {
  const body = $("board-body");
  const note = $("board-note");
  const isLatest = boardLoad();
  try {
    const board = await api.get(`/api/arena/leaderboard?scope=${encodeURIComponent($("board-scope").value)}`);
    if (!isLatest()) return;
    body.replaceChildren();
    if (!board.models.length) {
      note.textContent = "No votes yet. Every vote counts here once cast.";
      return;
    }
    note.textContent = `${board.votes} votes (${board.both_bad} both bad). Ratings: Bradley-Terry, 95 % intervals from ${board.resamples} bootstrap replays. A rank range such as 1–3 means the votes cannot yet order those models.`;
    const lowest = Math.min(...board.models.map((r) => r.rating_low));
    const highest = Math.max(...board.models.map((r) => r.rating_high));
    for (const row of board.models) {
      const rank = row.rank_best === row.rank_worst ? `${row.rank_best}` : `${row.rank_best}–${row.rank_worst}`;
      body.append(
        el(
          "tr",
          {},
          el("td", {}, rank),
          el("td", {}, row.name),
          el("td", { class: "num" }, String(Math.round(row.rating))),
          intervalCell(row, lowest, highest),
          el("td", { class: "num" }, String(row.votes)),
          el("td", { class: "num" }, `${row.wins} / ${row.losses} / ${row.ties}`),
        ),
      );
    }
  } catch (err) {
    if (isLatest()) note.textContent = err.message;
  }
}

$("mode-compare").addEventListener("click", () => setMode("compare"));
$("mode-arena").addEventListener("click", () => setMode("arena"));
$("compare-form").addEventListener("submit", send);
$("vote-bar").addEventListener("click", vote);
$("board-scope").addEventListener("change", loadBoard);
loadModels();
