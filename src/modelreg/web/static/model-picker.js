// The chat page's model selector: a button and a searchable listbox popover, grouped by
// company-wide / personal and by provider, showing capabilities, context length and price.
import {
  el, formatContext, formatPricePerMillion, providerDot, providerLabel,
} from "./ui.js";

function groupKey(model) {
  return `${model.is_global ? "0" : "1"}|${providerLabel(model.provider)}`;
}

function matches(model, query) {
  if (!query) return true;
  const haystack = `${model.name} ${model.model_id} ${model.provider} ${providerLabel(model.provider)} ${model.description ?? ""}`;
  return haystack.toLowerCase().includes(query);
}

function capabilityChips(model) {
  const caps = model.capabilities ?? {
    functions: model.supports_functions, vision: model.supports_vision,
  };
  const chips = [];
  if (caps.functions) chips.push(el("span", { class: "badge" }, "tools"));
  if (caps.vision) chips.push(el("span", { class: "badge" }, "vision"));
  if (model.context_length) chips.push(el("span", { class: "badge" }, `${formatContext(model.context_length)} ctx`));
  return chips;
}

export function priceSummary(model) {
  const input = formatPricePerMillion(model.price_per_input_token);
  const output = formatPricePerMillion(model.price_per_output_token);
  if (input === "free" && output === "free") return "free";
  return `${input} · ${output} /1M`;
}

export class ModelPicker {
  constructor({ button, label, popover, search, list, onChange }) {
    Object.assign(this, { button, label, popover, search, list, onChange });
    this.models = [];
    this.selectedId = null;
    this.visible = [];
    this.activeIndex = -1;

    button.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    search.addEventListener("input", () => this.renderOptions());
    search.addEventListener("keydown", (event) => this.onKey(event));
    list.addEventListener("keydown", (event) => this.onKey(event));
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen && !popover.contains(event.target) && !button.contains(event.target)) this.close();
    });
  }

  get isOpen() {
    return !this.popover.hidden;
  }

  get selectedModel() {
    return this.models.find((m) => m.id === this.selectedId) ?? null;
  }

  setModels(models) {
    this.models = [...models].sort(
      (a, b) => groupKey(a).localeCompare(groupKey(b)) || a.name.localeCompare(b.name),
    );
    this.button.disabled = false;
    if (!this.models.length) {
      this.label.textContent = "No models available";
    }
  }

  setError(message) {
    this.label.textContent = message;
    this.button.disabled = true;
  }

  select(id, { silent = false } = {}) {
    const model = this.models.find((m) => m.id === id) ?? null;
    this.selectedId = model ? model.id : null;
    this.label.replaceChildren();
    if (model) {
      this.label.append(providerDot(model.provider), " ", model.name);
      this.button.title = `${model.name} — ${providerLabel(model.provider)} · ${model.model_id}`;
    } else {
      this.label.textContent = this.models.length ? "Choose a model" : "No models available";
    }
    if (model && !silent) this.onChange(model);
  }

  open() {
    if (!this.models.length) {
      window.location.assign("/models");
      return;
    }
    this.popover.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.search.value = "";
    this.renderOptions();
    this.search.focus();
  }

  close({ focusButton = false } = {}) {
    this.popover.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (focusButton) this.button.focus();
  }

  renderOptions() {
    const query = this.search.value.trim().toLowerCase();
    this.visible = this.models.filter((m) => matches(m, query));
    this.list.replaceChildren();
    if (!this.visible.length) {
      this.list.append(el("li", { class: "model-empty", role: "presentation" }, "No models match"));
      this.activeIndex = -1;
      return;
    }
    let lastGroup = null;
    this.visible.forEach((model, index) => {
      const group = groupKey(model);
      if (group !== lastGroup) {
        lastGroup = group;
        this.list.append(
          el(
            "li",
            { class: "model-group", role: "presentation" },
            providerDot(model.provider),
            `${model.is_global ? "Company" : "Personal"} · ${providerLabel(model.provider)}`,
          ),
        );
      }
      const option = el(
        "li",
        {
          class: "model-option",
          role: "option",
          id: `model-option-${index}`,
          "aria-selected": model.id === this.selectedId ? "true" : "false",
          dataset: { id: model.id },
          onclick: () => this.choose(model),
          onpointermove: () => this.setActive(index),
        },
        el("span", { class: "model-option-name" }, model.name),
        el("span", { class: "model-option-price" }, priceSummary(model)),
        el(
          "span",
          { class: "model-option-sub" },
          el("span", { class: "model-option-id" }, model.model_id),
          ...capabilityChips(model),
        ),
      );
      this.list.append(option);
    });
    const selected = this.visible.findIndex((m) => m.id === this.selectedId);
    this.setActive(selected >= 0 ? selected : 0);
  }

  setActive(index) {
    this.activeIndex = index;
    for (const node of this.list.querySelectorAll(".model-option")) node.classList.remove("active");
    const node = this.list.querySelector(`#model-option-${index}`);
    if (node) {
      node.classList.add("active");
      node.scrollIntoView({ block: "nearest" });
      this.search.setAttribute("aria-activedescendant", node.id);
    }
  }

  choose(model) {
    const changed = model.id !== this.selectedId;
    this.close({ focusButton: true });
    if (changed) this.select(model.id);
  }

  onKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!this.visible.length) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.setActive((this.activeIndex + step + this.visible.length) % this.visible.length);
    } else if (event.key === "Enter") {
      event.preventDefault();
      const model = this.visible[this.activeIndex];
      if (model) this.choose(model);
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.close({ focusButton: true });
    } else if (event.key === "Tab") {
      this.close();
    }
  }
}
