// Thumbs up / down and an optional comment under each chat answer
// (POST / DELETE /api/messages/{id}/feedback; the ratings of a conversation come back with
// GET /api/conversations/{id}/feedback, so they show again after a reload).
import { api } from "./api.js";
import { el, toast } from "./ui.js";

const SVG_NS = "http://www.w3.org/2000/svg";
// a thumb, drawn for this page (thumbs down is the same shape turned over)
const THUMB =
  "M7 10v11H3V10h4zm2 11h8.3a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 18.7 10H14V5.5A2.5 2.5 0 0 0 11.5 3L9 10v11z";

function thumb(down) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "icon icon-sm");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  if (down) svg.setAttribute("transform", "rotate(180)");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", THUMB);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.8");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  return svg;
}

/** The rating controls of one answer; `data-message-id` names it. */
export function feedbackBar(messageId) {
  const state = { rating: null, comment: "" };
  const url = `/api/messages/${encodeURIComponent(messageId)}/feedback`;
  const up = el("button", { class: "btn-icon fb-thumb", type: "button", "aria-label": "Good response",
    title: "Good response", "aria-pressed": "false" }, thumb(false));
  const down = el("button", { class: "btn-icon fb-thumb", type: "button", "aria-label": "Bad response",
    title: "Bad response", "aria-pressed": "false" }, thumb(true));
  const comment = el("textarea", { class: "input fb-comment", rows: "2", maxlength: "2000",
    "aria-label": "Comment on this response", placeholder: "What was good or bad? (optional)" });
  const save = el("button", { class: "btn btn-secondary btn-sm", type: "submit" }, "Save comment");
  const form = el("form", { class: "fb-form", hidden: true }, comment, save);
  const bar = el("div", { class: "msg-feedback", dataset: { messageId } },
    el("div", { class: "fb-thumbs", role: "group", "aria-label": "Rate this response" }, up, down), form);

  function show() {
    up.setAttribute("aria-pressed", String(state.rating === 1));
    down.setAttribute("aria-pressed", String(state.rating === -1));
    bar.dataset.rating = state.rating === null ? "" : String(state.rating);
    form.hidden = state.rating === null;
    if (document.activeElement !== comment) comment.value = state.comment;
  }

  async function rate(rating) {
    const before = { ...state };
    try {
      if (state.rating === rating) {
        await api.delete(url); // pressing the chosen thumb again takes the rating back
        Object.assign(state, { rating: null, comment: "" });
      } else {
        const saved = await api.post(url, { rating, comment: state.comment || null });
        Object.assign(state, { rating: saved.rating, comment: saved.comment ?? "" });
      }
    } catch (err) {
      Object.assign(state, before);
      toast(`Could not save the rating: ${err.message}`, "error");
    }
    show();
  }

  up.addEventListener("click", () => rate(1));
  down.addEventListener("click", () => rate(-1));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.rating === null) return;
    try {
      const saved = await api.post(url, { rating: state.rating, comment: comment.value || null });
      state.comment = saved.comment ?? "";
      toast("Thanks, comment saved.");
    } catch (err) {
      toast(`Could not save the comment: ${err.message}`, "error");
    }
    show();
  });
  bar.setFeedback = (rating, text) => {
    Object.assign(state, { rating, comment: text ?? "" });
    show();
  };
  show();
  return bar;
}

/** Show the caller's stored ratings on the bars under `root` (after a conversation loads). */
export async function loadFeedback(conversationId, root) {
  let ratings;
  try {
    ratings = await api.get(`/api/conversations/${encodeURIComponent(conversationId)}/feedback`);
  } catch {
    return; // the answers stay rateable; only the earlier ratings are not shown
  }
  for (const item of ratings ?? []) {
    const bar = root.querySelector(`.msg-feedback[data-message-id="${CSS.escape(item.message_id)}"]`);
    bar?.setFeedback(item.rating, item.comment);
  }
}
