// The "Conversation settings" dialog: a system prompt and sampling parameters used on every
// turn of the conversation (PUT /api/conversations/{id}/settings; the server checks them
// against the model's limits and names the field it refuses).
import { api, ApiError, request } from "./api.js";
import { exportLinks } from "./chat-turns.js";
import { el, icon, toast } from "./ui.js";

const FIELDS = [
  { name: "temperature", label: "Temperature", help: "0–2 (0–1 for Anthropic models); empty: the model's default", step: "0.1", min: "0", max: "2" },
  { name: "top_p", label: "Top p", help: "0–1; empty: the model's default", step: "0.05", min: "0", max: "1" },
  { name: "max_tokens", label: "Max tokens", help: "Longest answer, within the model's limit", step: "1", min: "1" },
];

export class ConversationSettings {
  constructor(container, currentId) {
    this.currentId = currentId;
    this.button = el(
      "button",
      { class: "btn-icon", type: "button", "aria-label": "Conversation settings", title: "System prompt and parameters",
        hidden: true, onclick: () => this.open() },
      icon("more"),
    );
    container.prepend(this.button);
    this.prompt = el("textarea", { class: "input", id: "settings-system-prompt", rows: "4", maxlength: "100000" });
    this.inputs = {};
    this.errors = {};
    const fields = FIELDS.map((f) => {
      const input = el("input", { class: "input", id: `settings-${f.name}`, type: "number", step: f.step, min: f.min, max: f.max, inputmode: "decimal" });
      this.inputs[f.name] = input;
      this.errors[f.name] = el("span", { class: "field-error", "aria-live": "polite" });
      return el("div", { class: "field" }, el("label", { for: input.id }, f.label), input,
        el("span", { class: "field-help" }, f.help), this.errors[f.name]);
    });
    this.errors.system_prompt = el("span", { class: "field-error", "aria-live": "polite" });
    this.dialog = el(
      "dialog",
      { class: "dialog dialog-sm", "aria-labelledby": "settings-title", "data-testid": "settings-dialog" },
      el(
        "form",
        { class: "dialog-body", onsubmit: (event) => { event.preventDefault(); this.save(); } },
        el("h2", { class: "dialog-title", id: "settings-title" }, "Conversation settings"),
        el("div", { class: "field" }, el("label", { for: this.prompt.id }, "System prompt"), this.prompt,
          el("span", { class: "field-help" }, "Sent first on every turn of this conversation"), this.errors.system_prompt),
        ...fields,
        this.exports = el("div", { class: "settings-export", role: "group", "aria-label": "Export conversation" }),
        el(
          "div",
          { class: "dialog-actions" },
          el("button", { class: "btn btn-secondary", type: "button", onclick: () => this.dialog.close() }, "Cancel"),
          el("button", { class: "btn btn-primary", type: "submit" }, "Save"),
        ),
      ),
    );
    document.body.append(this.dialog);
  }

  show(visible) {
    this.button.hidden = !visible;
  }

  async open() {
    const id = this.currentId();
    if (!id) return;
    let settings;
    try {
      settings = await api.get(`/api/conversations/${encodeURIComponent(id)}/settings`);
    } catch (err) {
      toast(err.message, "error");
      return;
    }
    this.prompt.value = settings.system_prompt ?? "";
    for (const f of FIELDS) this.inputs[f.name].value = settings[f.name] ?? "";
    for (const e of Object.values(this.errors)) e.textContent = "";
    this.exports.replaceChildren(el("span", { class: "muted" }, "Export:"), ...exportLinks(id));
    this.dialog.showModal();
    this.prompt.focus();
  }

  async save() {
    const id = this.currentId();
    const number = (name) => (this.inputs[name].value === "" ? null : Number(this.inputs[name].value));
    const body = {
      system_prompt: this.prompt.value.trim() || null,
      temperature: number("temperature"),
      top_p: number("top_p"),
      max_tokens: number("max_tokens"),
    };
    for (const e of Object.values(this.errors)) e.textContent = "";
    try {
      await request("PUT", `/api/conversations/${encodeURIComponent(id)}/settings`, body);
    } catch (err) {
      const fields = err instanceof ApiError ? Object.entries(err.fields) : [];
      const shown = fields.filter(([name]) => this.errors[name]);
      for (const [name, text] of shown) this.errors[name].textContent = text;
      if (!shown.length) toast(err.message, "error");
      return;
    }
    this.dialog.close();
    toast("Settings saved");
  }
}
