// Per-message actions of the chat page: Regenerate and paging through alternative answers,
// Edit of a sent message, images attached to the composer, and conversation search. The
// server keeps the truth (see docs/api.md "Regenerate, Retry, Edit and alternatives"):
// after an action the page reloads the conversation and shows the selected path.
import { api, request } from "./api.js";
import { el, icon, toast } from "./ui.js";

export const MAX_IMAGE_BYTES = 3 * 1024 * 1024;
export const MAX_IMAGES = 4;
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

const enc = encodeURIComponent;

export function messageUrl(conversationId, messageId, action) {
  return `/api/conversations/${enc(conversationId)}/messages/${enc(messageId)}/${action}`;
}

/** Under an answer: "‹ 2 / 3 ›" when it has alternatives, and Regenerate. */
export function answerActions(message, { onRegenerate, onSelect }) {
  const alternatives = message.alternatives ?? [message.id];
  const index = Math.max(0, alternatives.indexOf(message.id));
  const bar = el("div", { class: "msg-actions", "data-testid": "answer-actions" });
  if (alternatives.length > 1) {
    const pager = el(
      "span",
      { class: "msg-pager", role: "group", "aria-label": "Alternative answers" },
      el(
        "button",
        {
          class: "btn-icon btn-icon-sm", type: "button", "aria-label": "Previous answer",
          title: "Previous answer", disabled: index === 0,
          onclick: () => onSelect(alternatives[index - 1]),
        },
        icon("chevron", "icon-sm icon-left"),
      ),
      el("span", { class: "msg-pager-count", "data-testid": "answer-count" }, `${index + 1} / ${alternatives.length}`),
      el(
        "button",
        {
          class: "btn-icon btn-icon-sm", type: "button", "aria-label": "Next answer",
          title: "Next answer", disabled: index === alternatives.length - 1,
          onclick: () => onSelect(alternatives[index + 1]),
        },
        icon("chevron", "icon-sm icon-right"),
      ),
    );
    bar.append(pager);
  }
  bar.append(
    el(
      "button",
      {
        class: "btn btn-ghost btn-sm", type: "button", "aria-label": "Regenerate",
        title: "Answer again with the model chosen above (this answer is kept)",
        onclick: () => onRegenerate(message.id),
      },
      icon("retry", "icon-sm"),
      el("span", {}, "Regenerate"),
    ),
  );
  return bar;
}

/** Regenerate (and Retry), Edit and paging, on the page's own streaming and state (`page`:
 * model(), conversationId(), busy(), setBusy(b), newView(model), messages, stream(view, model,
 * request) → true when complete, reload(id)). After each, the conversation is reloaded. */
export function turnActions(page) {
  async function run(view, model, request) {
    const conversationId = page.conversationId();
    view.setText("", { streaming: true });
    view.flush();
    try {
      const ok = await page.stream(view, model, request);
      if (ok && page.conversationId() === conversationId) await page.reload(conversationId);
    } finally {
      page.setBusy(false);
    }
  }
  const ready = () => {
    const model = page.model();
    if (page.busy() || !model || !page.conversationId()) return null;
    page.setBusy(true);
    return model;
  };
  return {
    /** Answer a stored user message again, in place of `oldRoot`. */
    async regenerate(oldRoot, messageId) {
      const model = ready();
      if (!model) return;
      const view = page.newView(model);
      oldRoot.replaceWith(view.root);
      const url = messageUrl(page.conversationId(), messageId, "regenerate");
      await run(view, model, { url, body: { model_id: model.id, stream: true } });
    },
    /** Replace a sent message; what followed it goes. */
    async editMessage(messageId, text, userEl) {
      const model = ready();
      if (!model) return;
      while (userEl.nextSibling) userEl.nextSibling.remove();
      const view = page.newView(model);
      page.messages.append(view.root);
      const url = messageUrl(page.conversationId(), messageId, "edit");
      await run(view, model, { url, body: { content: text, model_id: model.id, stream: true } });
    },
    async pickAnswer(messageId) {
      const id = page.conversationId();
      if (page.busy() || !id) return;
      try {
        await request("PUT", messageUrl(id, messageId, "selected"));
      } catch (err) {
        toast(err.message, "error");
      }
      await page.reload(id);
    },
  };
}

/** A sent user message: its text, its images, and (once stored) an Edit button. */
export function userBubble(text, { images = [], onEdit = null } = {}) {
  const body = el("div", { class: "msg-body" }, text);
  const root = el("div", { class: "msg msg-user", "data-testid": "user-message" });
  if (images.length) {
    root.append(
      el("div", { class: "msg-images" },
        images.map((src, i) => el("img", { src, alt: `Attached image ${i + 1}`, class: "msg-image" }))),
    );
  }
  root.append(body);
  if (onEdit) {
    const edit = el(
      "button",
      { class: "btn-icon btn-icon-sm msg-edit", type: "button", "aria-label": "Edit message", title: "Edit and resend",
        onclick: () => startEdit(root, body, text, onEdit) },
      icon("pencil", "icon-sm"),
    );
    root.append(el("div", { class: "msg-actions msg-actions-user" }, edit));
  }
  return root;
}

function startEdit(root, body, text, onEdit) {
  const area = el("textarea", { class: "input msg-edit-input", rows: "3", "aria-label": "Edited message" });
  area.value = text;
  const cancel = () => form.replaceWith(body);
  const form = el(
    "form",
    { class: "msg-edit-form", onsubmit: (event) => {
      event.preventDefault();
      const value = area.value.trim();
      if (!value) return;
      body.textContent = value;
      form.replaceWith(body);
      onEdit(value, root);
    } },
    area,
    el(
      "div",
      { class: "msg-edit-buttons" },
      el("button", { class: "btn btn-secondary btn-sm", type: "button", onclick: cancel }, "Cancel"),
      el("button", { class: "btn btn-primary btn-sm", type: "submit" }, "Save and send"),
    ),
  );
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") cancel();
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  body.replaceWith(form);
  area.focus();
}

/** The composer's images: an "Attach image" button, thumbnails with Remove, limits. */
export class ImageTray {
  constructor(actions, box) {
    this.images = []; // {data (base64), url (data: URL for the preview), name}
    this.input = el("input", {
      type: "file", accept: IMAGE_TYPES.join(","), multiple: true, hidden: true,
      "aria-label": "Choose images", "data-testid": "image-input",
    });
    this.input.addEventListener("change", () => this.add([...this.input.files]));
    this.button = el(
      "button",
      { class: "btn btn-ghost btn-sm", type: "button", "aria-label": "Attach image", title: "Attach image",
        onclick: () => this.input.click() },
      icon("plus", "icon-sm"),
      el("span", {}, "Image"),
    );
    this.list = el("div", { class: "composer-images", "aria-label": "Attached images" });
    actions.prepend(this.button, this.input);
    box.prepend(this.list);
  }

  setModel(model) {
    const vision = Boolean(model?.supports_vision);
    this.button.disabled = !vision;
    this.button.title = vision
      ? "Attach image (PNG, JPEG, GIF or WebP, at most 3 MB)"
      : `${model?.name ?? "This model"} does not accept images: choose a model marked for vision`;
    if (!vision && this.images.length) this.clear();
  }

  async add(files) {
    for (const file of files) {
      if (this.images.length >= MAX_IMAGES) {
        toast(`At most ${MAX_IMAGES} images per message.`, "error");
        break;
      }
      if (!IMAGE_TYPES.includes(file.type)) {
        toast(`${file.name}: only PNG, JPEG, GIF or WebP images.`, "error");
        continue;
      }
      if (file.size > MAX_IMAGE_BYTES) {
        toast(`${file.name} is larger than 3 MB.`, "error");
        continue;
      }
      const data = await toBase64(file);
      // a data: URL for the preview (the page's CSP allows data:, not blob:)
      this.images.push({ data, url: `data:${file.type};base64,${data}`, name: file.name });
    }
    this.input.value = "";
    this.render();
  }

  render() {
    this.list.replaceChildren(
      ...this.images.map((image, i) =>
        el(
          "span",
          { class: "composer-image" },
          el("img", { src: image.url, alt: image.name }),
          el(
            "button",
            { class: "btn-icon btn-icon-sm", type: "button", "aria-label": `Remove ${image.name}`,
              onclick: () => { this.images.splice(i, 1); this.render(); } },
            icon("x", "icon-sm"),
          ),
        ),
      ),
    );
  }

  /** The images to send, and their previews; the tray is emptied. */
  take() {
    const taken = this.images;
    this.images = [];
    this.render();
    return taken;
  }

  clear() {
    this.images = [];
    this.render();
  }
}

function toBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** The "Search conversations" box: server-side search, debounced; empty shows all. */
export function wireSearch(input, onResults) {
  let timer = 0;
  let latest = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const query = input.value.trim();
      const mine = ++latest;
      try {
        const found = await api.get(query ? `/api/conversations?q=${enc(query)}` : "/api/conversations");
        if (mine === latest) onResults(found, query);
      } catch (err) {
        toast(err.message, "error");
      }
    }, 200);
  });
}

/** Export links for the conversation (downloads through the session cookie). */
export function exportLinks(conversationId) {
  const base = `/api/conversations/${enc(conversationId)}/export`;
  return [
    el("a", { class: "btn btn-ghost btn-sm", href: `${base}?format=markdown`, download: "", "aria-label": "Export as Markdown" }, "Markdown"),
    el("a", { class: "btn btn-ghost btn-sm", href: `${base}?format=json`, download: "", "aria-label": "Export as JSON" }, "JSON"),
  ];
}
