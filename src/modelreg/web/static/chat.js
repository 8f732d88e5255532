// The chat page: conversation list, model picker, streamed answers.
import { api, ApiError, asList, csrfToken, errorFromBody, readEvents } from "./api.js";
import { refreshBudgets } from "./budget-banner.js";
import { feedbackBar, loadFeedback } from "./feedback.js";
import { renderMarkdown } from "./markdown.js";
import { ModelPicker } from "./model-picker.js";
import { collectionIds, mountCollectionPicker, resetCollections, showCitations } from "./knowledge-chat.js";
import {
  answerActions, exportLinks, ImageTray, turnActions, userBubble, wireSearch,
} from "./chat-turns.js";
import { ConversationSettings } from "./chat-settings.js";
import {
  confirmDialog, el, formatCost, formatLatency, formatTokens, icon, promptDialog, setNav, toast,
} from "./ui.js";

const LAST_MODEL_KEY = "modelreg.lastModel";

const $ = (id) => document.getElementById(id);
const dom = {
  list: $("conv-list"),
  title: $("conv-title"),
  messages: $("messages"),
  scroll: $("chat-scroll"),
  form: $("composer"),
  prompt: $("prompt"),
  send: $("send-button"),
  stop: $("stop-button"),
  hint: $("composer-hint"),
  empty: $("empty-chat"),
  exports: $("conv-export"),
};

const state = {
  conversations: [],
  currentId: null,
  models: [],
  busy: false,
  controller: null,
  openToken: 0, // the newest openConversation call wins
};

const picker = new ModelPicker({
  button: $("model-button"),
  label: $("model-button-label"),
  popover: $("model-popover"),
  search: $("model-search"),
  list: $("model-options"),
  onChange: (model) => onModelChosen(model),
});
const settings = new ConversationSettings(document.querySelector(".topbar-actions"), () => state.currentId);
const tray = new ImageTray(document.querySelector(".composer-actions"), document.querySelector(".composer-box"));
wireSearch($("conv-search"), (found) => {
  state.conversations = asList(found, "conversations");
  renderConversationList();
});

// ---------- conversations ----------

function conversationUrl(id) {
  return id ? `/?c=${encodeURIComponent(id)}` : "/";
}

function renderConversationList() {
  dom.list.replaceChildren();
  dom.list.removeAttribute("aria-busy");
  if (!state.conversations.length) {
    dom.list.append(el("li", { class: "conv-empty" }, "No conversations yet"));
    return;
  }
  for (const conv of state.conversations) {
    const current = conv.id === state.currentId;
    const title = conv.title || "New conversation";
    dom.list.append(
      el(
        "li",
        { class: "conv-item", "aria-current": current ? "true" : "false", dataset: { id: conv.id } },
        el(
          "a",
          {
            class: "conv-link",
            href: conversationUrl(conv.id),
            title,
            onclick: (event) => {
              event.preventDefault();
              history.pushState({}, "", conversationUrl(conv.id));
              openConversation(conv.id);
              setNav(false);
            },
          },
          title,
        ),
        el(
          "span",
          { class: "conv-actions" },
          el(
            "button",
            {
              class: "btn-icon btn-icon-sm", type: "button", "aria-label": `Rename “${title}”`,
              title: "Rename", onclick: () => renameConversation(conv),
            },
            icon("pencil", "icon-sm"),
          ),
          el(
            "button",
            {
              class: "btn-icon btn-icon-sm danger", type: "button", "aria-label": `Delete “${title}”`,
              title: "Delete", onclick: () => deleteConversation(conv),
            },
            icon("trash", "icon-sm"),
          ),
        ),
      ),
    );
  }
}

async function loadConversations() {
  try {
    const query = $("conv-search").value.trim(); // a search in progress stays applied
    const path = query ? `/api/conversations?q=${encodeURIComponent(query)}` : "/api/conversations";
    state.conversations = asList(await api.get(path), "conversations");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    dom.list.replaceChildren(el("li", { class: "conv-empty" }, "Couldn't load conversations"));
    return;
  }
  renderConversationList();
}

function setTitle(title) {
  const text = title || "New conversation";
  dom.title.textContent = text;
  document.title = `${text} · modelreg`;
  dom.exports.replaceChildren(...(state.currentId ? exportLinks(state.currentId) : []));
  settings.show(Boolean(state.currentId));
}

function startNewConversation({ focus = true } = {}) {
  stopStreaming();
  state.currentId = null;
  state.openToken++;
  dom.messages.replaceChildren();
  setTitle("");
  renderConversationList();
  chooseDefaultModel(null);
  resetCollections();
  if (focus) dom.prompt.focus();
}

async function openConversation(id, { quiet = false } = {}) {
  if (!quiet) stopStreaming();
  const token = ++state.openToken;
  state.currentId = id;
  renderConversationList();
  const scrollTop = dom.scroll.scrollTop;
  if (!quiet) dom.messages.replaceChildren(el("div", { class: "msg-note" }, el("span", { class: "spinner" }), " Loading conversation…"));
  let conv;
  try {
    conv = await api.get(`/api/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    if (token !== state.openToken) return;
    if (err instanceof ApiError && err.status === 404) {
      toast("That conversation no longer exists.", "error");
      history.replaceState({}, "", "/");
      startNewConversation({ focus: false });
      return;
    }
    dom.messages.replaceChildren(errorBox(err.message, () => openConversation(id)));
    return;
  }
  if (token !== state.openToken) return;
  setTitle(conv.title);
  dom.messages.replaceChildren();
  const shown = (conv.messages ?? []).filter((m) => m.active !== false);
  const lastAnswer = shown.findLast((m) => m.role === "assistant" && m.reply_to_id);
  for (const message of shown) {
    if (message.role === "user") {
      dom.messages.append(userBubble(message.content, {
        images: message.images ?? [],
        onEdit: (text, root) => editMessage(message.id, text, root),
      }));
    } else if (message.role === "assistant") {
      const view = new AssistantMessage(message.model?.name ?? message.model_name ?? "Unknown model");
      view.setText(message.content ?? "");
      view.finish(message);
      view.messageId = message.id;
      showCitations(view.extra, message.citations);
      const retry = () => regenerate(view.root, message.id);
      if (message.status === "error") view.showError(message.error || "This answer failed.", message === lastAnswer ? retry : null);
      else if (message.status === "incomplete") view.note("The answer was cut off.");
      if (message.reply_to_id) {
        view.root.append(answerActions(message, {
          onRegenerate: (messageId) => regenerate(view.root, messageId),
          onSelect: (messageId) => pickAnswer(messageId),
        }));
      }
      dom.messages.append(view.root);
    }
  }
  chooseDefaultModel(conv.llm_model_id);
  if (quiet) dom.scroll.scrollTop = scrollTop;
  else scrollToBottom(true);
  loadFeedback(id, dom.messages);
}

// Regenerate / Retry, Edit, paging (chat-turns.js), on this page's streaming and state
const turns = turnActions({
  model: () => picker.selectedModel,
  conversationId: () => state.currentId,
  busy: () => state.busy,
  setBusy,
  newView: (model) => new AssistantMessage(model.name),
  messages: dom.messages,
  stream: (view, model, request) => streamAnswer(null, model, view, null, request),
  reload: (id) => openConversation(id, { quiet: true }),
});
const { regenerate, editMessage, pickAnswer } = turns;

async function renameConversation(conv) {
  const title = await promptDialog({ title: "Rename conversation", label: "Title", value: conv.title ?? "" });
  if (!title) return;
  try {
    await api.patch(`/api/conversations/${encodeURIComponent(conv.id)}`, { title });
    conv.title = title;
    if (conv.id === state.currentId) setTitle(title);
    renderConversationList();
  } catch (err) {
    toast(err.message, "error");
  }
}

async function deleteConversation(conv) {
  const ok = await confirmDialog({
    title: "Delete conversation?",
    message: `“${conv.title || "New conversation"}” and all its messages will be deleted. This cannot be undone.`,
  });
  if (!ok) return;
  try {
    await api.delete(`/api/conversations/${encodeURIComponent(conv.id)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) {
      toast(err.message, "error");
      return;
    }
  }
  state.conversations = state.conversations.filter((c) => c.id !== conv.id);
  if (conv.id === state.currentId) {
    history.pushState({}, "", "/");
    startNewConversation({ focus: false });
  } else {
    renderConversationList();
  }
  toast("Conversation deleted");
}

// ---------- models ----------

async function loadModels() {
  try {
    const all = asList(await api.get("/api/models"), "models");
    state.models = all.filter((m) => m.enabled !== false && m.kind !== "embedding");
  } catch (err) {
    picker.setError("Couldn't load models");
    return;
  }
  picker.setModels(state.models);
  if (!state.models.length) {
    dom.empty.querySelector("p").replaceChildren(
      "No models are available yet. ", el("a", { href: "/models" }, "Add a model"), " with your API key to start chatting.",
    );
  }
}

/** The conversation's model if usable, else the last one picked here, else the first. */
function chooseDefaultModel(conversationModelId) {
  const usable = (id) => id && state.models.some((m) => m.id === id);
  const id = [conversationModelId, picker.selectedId, localStorage.getItem(LAST_MODEL_KEY)].find(usable)
    ?? state.models[0]?.id ?? null;
  picker.select(id, { silent: true });
  tray.setModel(picker.selectedModel);
}

async function onModelChosen(model) {
  localStorage.setItem(LAST_MODEL_KEY, model.id);
  tray.setModel(model);
  if (!state.currentId) return;
  try {
    await api.patch(`/api/conversations/${encodeURIComponent(state.currentId)}`, { llm_model_id: model.id });
  } catch (err) {
    toast(`Couldn't save the model choice: ${err.message}`, "error");
  }
}

// ---------- messages ----------

function errorBox(message, onRetry) {
  return el(
    "div",
    { class: "msg-error", role: "alert" },
    icon("alert", "icon-sm"),
    el("span", { class: "msg-error-text" }, message),
    onRetry
      ? el(
          "button",
          { class: "btn btn-secondary btn-sm", type: "button", onclick: onRetry },
          icon("retry", "icon-sm"),
          "Retry",
        )
      : null,
  );
}

/** Copy `text` to the clipboard; the button says whether it worked. */
async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.dataset.copied = "true";
    setTimeout(() => delete button.dataset.copied, 1500);
  } catch {
    toast("Could not copy: the browser refused access to the clipboard.", "error");
  }
}

// Copy on a code block: one listener for every block, also those a re-render creates
dom.messages.addEventListener("click", (event) => {
  const button = event.target.closest?.(".code-copy");
  if (!button) return;
  const code = button.closest(".code-block")?.querySelector("pre code");
  if (code) copyText(code.textContent, button);
});

/** One assistant answer: Markdown body, model badge, stats, and its error or note. */
class AssistantMessage {
  constructor(modelName) {
    this.text = "";
    this.frame = 0;
    this.body = el("div", { class: "msg-body md" });
    this.badgeName = el("span", { class: "model-badge-name" }, modelName);
    this.stats = el("span", { class: "msg-stats" });
    this.copy = el(
      "button",
      { class: "msg-copy", type: "button", "aria-label": "Copy", title: "Copy the answer (Markdown)",
        onclick: () => copyText(this.text, this.copy) },
      icon("copy", "icon-sm"),
    );
    this.extra = el("div");
    this.feedback = el("div");
    this.root = el(
      "div",
      { class: "msg msg-assistant", "data-testid": "assistant-message" },
      el(
        "div",
        { class: "msg-meta" },
        el("span", { class: "model-badge", "data-testid": "model-badge" }, icon("box"), this.badgeName),
        this.stats,
        this.copy,
      ),
      this.body,
      this.extra,
      this.feedback,
    );
  }

  setModel(name) {
    if (name) this.badgeName.textContent = name;
  }

  waiting() {
    this.body.replaceChildren(el("span", { class: "typing", "aria-label": "Waiting for the answer" }, el("span"), el("span"), el("span")));
  }

  setText(text, { streaming = false } = {}) {
    this.text = text;
    this.streaming = streaming;
    // re-render at most once per frame; a fast stream would otherwise re-parse per token
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    this.body.innerHTML = renderMarkdown(this.text); // escaped first: see markdown.js
    this.body.classList.toggle("cursor", Boolean(this.streaming));
    if (!this.text && this.streaming) this.waiting();
    scrollToBottom();
  }

  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.render();
  }

  finish(info = {}) {
    this.streaming = false;
    this.flush();
    const usage = info.usage ?? {};
    const input = info.input_tokens ?? usage.input_tokens ?? usage.input ?? usage.prompt_tokens;
    const output = info.output_tokens ?? usage.output_tokens ?? usage.output ?? usage.completion_tokens;
    const parts = [];
    if (input !== undefined && input !== null) parts.push(`${formatTokens(input)} in`);
    if (output !== undefined && output !== null) parts.push(`${formatTokens(output)} out`);
    const cost = formatCost(info.cost);
    if (cost) parts.push(cost);
    const latency = formatLatency(info.latency_ms);
    if (latency) parts.push(latency);
    const spans = parts.map((text) => el("span", {}, text));
    // a stopped answer whose usage never came: the server's estimate, said as such
    if (info.usage_estimated) spans.push(el("span", { class: "estimated" }, "estimated"));
    this.stats.replaceChildren(...spans);
    this.stats.title = info.usage_estimated
      ? "Estimated tokens in · out · cost (the answer was stopped before the provider reported its usage)"
      : "Tokens in · tokens out · cost · latency";
    const id = info.message_id ?? info.id; // thumbs up / down once the answer is stored
    if (id && !this.feedback.firstChild) this.feedback.replaceChildren(feedbackBar(id));
  }

  note(text) {
    this.extra.replaceChildren(el("p", { class: "msg-note" }, text));
  }

  showError(message, onRetry) {
    this.streaming = false;
    this.flush();
    if (!this.text) this.body.replaceChildren();
    this.extra.replaceChildren(errorBox(message, onRetry));
    // the box grew the list: bring it, Retry included, into view above the composer
    this.extra.scrollIntoView({ block: "nearest" });
  }
}

function nearBottom() {
  const s = dom.scroll;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
}

function scrollToBottom(force = false) {
  if (force || nearBottom()) dom.scroll.scrollTop = dom.scroll.scrollHeight;
}

// ---------- sending and streaming ----------

function setBusy(busy) {
  state.busy = busy;
  dom.send.disabled = busy;
  dom.stop.hidden = !busy;
  dom.form.setAttribute("aria-busy", busy ? "true" : "false");
}

function stopStreaming() {
  state.controller?.abort();
}

async function send(text) {
  // the busy flag is set before the first await, so a double-click can never send twice
  if (state.busy) return;
  const message = text.trim();
  if (!message) return;
  const model = picker.selectedModel;
  if (!model) {
    toast("Add or choose a model first.", "error");
    return;
  }
  setBusy(true);
  dom.prompt.value = "";
  autosize();
  const images = tray.take();
  const userEl = userBubble(message, { images: images.map((i) => i.url) });
  const view = new AssistantMessage(model.name);
  dom.messages.append(userEl, view.root);
  view.setText("", { streaming: true });
  view.flush();
  scrollToBottom(true);
  try {
    const body = {
      conversation_id: state.currentId ?? undefined,
      model_id: model.id,
      message,
      stream: true,
      collection_ids: collectionIds(),
    };
    if (images.length) body.images = images.map((i) => ({ data: i.data }));
    const ok = await streamAnswer(message, model, view, userEl, { url: "/api/chat", body });
    if (ok && state.currentId) await openConversation(state.currentId, { quiet: true });
  } finally {
    setBusy(false);
    dom.prompt.focus();
  }
}

/** Stream one turn (`request`: the URL and body) into `view`; true when it completed. */
async function streamAnswer(message, model, view, userEl, request) {
  const controller = new AbortController();
  state.controller = controller;
  const retry = () => {
    // stored with an error: answer the stored message again (never send it twice)
    if (view.messageId) return regenerate(view.root, view.messageId);
    // nothing stored: send again
    if (userEl) userEl.remove();
    view.root.remove();
    if (message !== null) send(message);
  };
  let text = "";
  let finished = false;
  let messageId = null;
  try {
    const response = await fetch(request.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "text/event-stream",
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(request.body),
      signal: controller.signal,
    });
    if (response.status === 401) {
      window.location.assign("/login");
      return;
    }
    if (!response.ok) {
      const body = await response.text();
      let parsed = null;
      try { parsed = JSON.parse(body); } catch { /* not JSON */ }
      throw errorFromBody(response.status, parsed);
    }
    for await (const { event, data } of readEvents(response)) {
      if (event === "meta") {
        messageId = data.message_id ?? null;
        onMeta(data, view);
      } else if (event === "text_delta") {
        text += data.text ?? "";
        view.setText(text, { streaming: true });
      } else if (event === "done") {
        finished = true;
        view.finish(data);
        showCitations(view.extra, data.citations);
      } else if (event === "error") {
        throw new ApiError(0, data.message || "The model returned an error.", { type: data.type });
      }
    }
    if (!finished) {
      throw new ApiError(0, "The connection closed before the answer was complete.", { type: "incomplete" });
    }
    return true;
  } catch (err) {
    if (err?.name === "AbortError") {
      view.finish({});
      view.note(text ? "Stopped." : "Stopped before the model answered.");
      if (messageId) showStoppedNumbers(view, state.currentId, messageId);
    } else if (err instanceof ApiError) {
      view.showError(err.message, retry);
    } else {
      // fetch / reader failures (TypeError: network error): keep what arrived
      view.showError(
        text
          ? "Connection lost while receiving the answer. What arrived is kept above."
          : "Could not reach the server before the model answered. Check the connection and retry.",
        retry,
      );
    }
  } finally {
    if (state.controller === controller) state.controller = null;
    refreshConversationMeta();
    refreshBudgets();
  }
}

// The server stores a stopped answer with what it used once the upstream's usage came (or a
// short grace passed, then an estimate): show those numbers as soon as they are stored.
async function showStoppedNumbers(view, conversationId, messageId) {
  for (let attempt = 0; attempt < 20 && conversationId; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    let stored;
    try {
      stored = await api.get(`/api/conversations/${conversationId}`);
    } catch {
      return;
    }
    const found = (stored.messages ?? []).find((m) => m.id === messageId);
    if (found) {
      view.finish(found);
      refreshBudgets();
      return;
    }
  }
}

function onMeta(data, view) {
  const name = typeof data.model === "string" ? data.model : data.model?.name ?? data.model_name;
  view.setModel(name);
  if (data.message_id) view.messageId = data.message_id;
  if (data.conversation_id && !state.currentId) {
    state.currentId = data.conversation_id;
    history.replaceState({}, "", conversationUrl(state.currentId));
    if (!state.conversations.some((c) => c.id === state.currentId)) {
      state.conversations.unshift({ id: state.currentId, title: "New conversation" });
    }
    renderConversationList();
  }
}

// after an answer the server may have titled the conversation or reordered the list
async function refreshConversationMeta() {
  await loadConversations();
  const current = state.conversations.find((c) => c.id === state.currentId);
  if (current) setTitle(current.title);
}

// ---------- composer ----------

function autosize() {
  dom.prompt.style.height = "auto";
  dom.prompt.style.height = `${Math.min(dom.prompt.scrollHeight, 240)}px`;
}

dom.form.addEventListener("submit", (event) => {
  event.preventDefault();
  send(dom.prompt.value);
});
dom.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    dom.form.requestSubmit();
  }
});
dom.prompt.addEventListener("input", autosize);
dom.stop.addEventListener("click", stopStreaming);
$("new-conversation").addEventListener("click", () => {
  history.pushState({}, "", "/");
  startNewConversation();
  setNav(false);
});
window.addEventListener("popstate", () => routeFromUrl());

function routeFromUrl() {
  const id = new URLSearchParams(location.search).get("c");
  if (id) openConversation(id);
  else startNewConversation({ focus: false });
}

async function init() {
  await Promise.all([loadModels(), loadConversations(), mountCollectionPicker()]);
  routeFromUrl();
  dom.prompt.focus();
}

init();
