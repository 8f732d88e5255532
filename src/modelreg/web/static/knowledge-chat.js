// Knowledge in the chat page: a picker of the collections a turn answers from, and the
// numbered citations under an answer, each opening its passage in a dialog.
import { api, asList } from "./api.js";
import { el } from "./ui.js";

let collections = [];
let chosen = new Set();
let touched = false; // only a changed choice is sent: otherwise the conversation keeps its own

/** The picker, in the element with id "knowledge-picker" (absent: no knowledge UI). */
export async function mountCollectionPicker() {
  const host = document.getElementById("knowledge-picker");
  if (!host) return;
  try {
    collections = asList(await api.get("/api/collections"), "collections");
  } catch {
    return;
  }
  if (!collections.length) return;
  const summary = el("summary", { class: "btn btn-secondary btn-sm", "data-testid": "knowledge-summary" });
  const label = () => summary.replaceChildren(chosen.size ? `Knowledge (${chosen.size})` : "Knowledge");
  label();
  const list = el("div", { class: "popover knowledge-options" }, ...collections.map((c) => {
    const box = el("input", {
      // named on the box itself too: inside a closed <details> the label's text is not rendered
      type: "checkbox", value: c.id, "aria-label": c.name,
      onchange: (event) => {
        touched = true;
        if (event.target.checked) chosen.add(c.id); else chosen.delete(c.id);
        label();
      },
    });
    return el("label", { class: "knowledge-option" }, box, el("span", {}, c.name));
  }));
  host.replaceChildren(el("details", { class: "knowledge-picker" }, summary, list));
  host.hidden = false;
}

/** `collection_ids` for the next turn, or undefined to keep the conversation's. */
export function collectionIds() {
  return touched ? [...chosen] : undefined;
}

/** Forget the choice (a new conversation starts without collections). */
export function resetCollections() {
  touched = false;
  chosen = new Set();
  document.querySelectorAll(".knowledge-option input").forEach((box) => { box.checked = false; });
  const summary = document.querySelector("[data-testid=knowledge-summary]");
  if (summary) summary.textContent = "Knowledge";
}

function openPassage(citation) {
  let dialog = document.getElementById("passage-dialog");
  if (!dialog) {
    dialog = el("dialog", { class: "dialog", id: "passage-dialog", "aria-labelledby": "passage-title" });
    document.body.append(dialog);
  }
  const close = el("button", { class: "btn btn-secondary", type: "button", onclick: () => dialog.close() }, "Close");
  dialog.replaceChildren(el("div", { class: "dialog-body" },
    el("h2", { class: "dialog-title", id: "passage-title" }, `[${citation.n}] ${citation.filename}`),
    el("p", { class: "muted" }, `Passage ${citation.ordinal + 1} · relevance ${Number(citation.score).toFixed(2)}`),
    el("blockquote", { class: "passage-text", "data-testid": "passage-text" }, citation.text),
    el("div", { class: "dialog-actions" }, close)));
  dialog.showModal();
}

/** Numbered citations under an answer (`extra` is the message's extra area). */
export function showCitations(extra, citations) {
  if (!extra || !Array.isArray(citations) || !citations.length) return;
  extra.querySelector(".citations")?.remove();
  const items = citations.map((c) => el("li", {},
    el("button", {
      class: "citation", type: "button", "data-testid": "citation",
      "aria-label": `Source ${c.n}: ${c.filename}`, onclick: () => openPassage(c),
    }, `[${c.n}] ${c.filename}`)));
  extra.append(el("div", { class: "citations" }, el("span", { class: "muted" }, "Sources"), el("ol", {}, ...items)));
}
