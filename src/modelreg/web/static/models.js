// The models page: table with search and provider filter, admin enable/disable, and the
// add / edit dialog with templates and a connection test before saving.
import { api, ApiError, asList } from "./api.js";
import {
  confirmDialog, el, formatContext, formatPricePerMillion, icon, providerColor, providerDot,
  providerLabel, shiftDecimal, toast, wireDialog,
} from "./ui.js";

const $ = (id) => document.getElementById(id);
const isAdmin = $("models-page").dataset.admin === "true";

const state = {
  models: [],
  templates: [],
  template: null, // the template the add dialog started from
  editing: null, // the model being edited, or null when adding
};

// ---------- table ----------

function canEdit(model) {
  if (model.source === "env") return false; // comes from the environment; edit it there
  return model.is_global ? isAdmin : true;
}

function keyCell(model) {
  if (model.has_api_key) {
    return el("span", { class: "key-hint", title: "Only the last four characters are shown" }, `•••• ${model.api_key_hint ?? ""}`);
  }
  return el("span", { class: "subtle" }, model.auth_type === "none" ? "not needed" : "none");
}

function statusCell(model) {
  if (!canEdit(model)) {
    return el(
      "span",
      { class: `status ${model.enabled ? "on" : ""}` },
      el("span", { class: "status-dot" }),
      model.enabled ? "Enabled" : "Disabled",
    );
  }
  const input = el("input", {
    type: "checkbox",
    role: "switch",
    checked: model.enabled,
    "aria-label": `${model.enabled ? "Disable" : "Enable"} ${model.name}`,
    onchange: () => setEnabled(model, input),
  });
  return el(
    "label",
    { class: "switch" },
    input,
    el("span", { class: "switch-track" }),
    el("span", { class: "switch-text" }, model.enabled ? "Enabled" : "Disabled"),
  );
}

function capabilityChips(model) {
  const caps = model.capabilities ?? {
    streaming: model.supports_streaming, functions: model.supports_functions, vision: model.supports_vision,
  };
  const chips = [];
  if (caps.streaming) chips.push("streaming");
  if (caps.functions) chips.push("tools");
  if (caps.vision) chips.push("vision");
  return el("span", { class: "chips" }, ...chips.map((c) => el("span", { class: "badge" }, c)));
}

function modelRow(model) {
  const scope = model.is_global
    ? el("span", { class: "badge badge-accent" }, "Company")
    : el("span", { class: "badge" }, "Personal");
  const actions = canEdit(model)
    ? el(
        "span",
        { class: "row-actions" },
        el("button", {
          class: "btn-icon", type: "button", title: "Edit", "aria-label": `Edit ${model.name}`,
          onclick: () => openEdit(model),
        }, icon("pencil")),
        el("button", {
          class: "btn-icon danger", type: "button", title: "Delete", "aria-label": `Delete ${model.name}`,
          onclick: () => deleteModel(model),
        }, icon("trash")),
      )
    : null;
  return el(
    "tr",
    { dataset: { id: model.id }, "data-testid": "model-row" },
    el(
      "td",
      {},
      el(
        "div",
        { class: "cell-name" },
        el("span", { class: "cell-title" }, el("span", { class: "model-name" }, model.name)),
        el("span", { class: "cell-meta" }, scope,
          model.source === "env" ? el("span", { class: "badge badge-warning", title: "Configured by environment variables" }, "env") : null,
          el("span", { class: "cell-sub mono" }, model.model_id)),
        model.description ? el("span", { class: "cell-sub" }, model.description) : null,
      ),
    ),
    el("td", { "data-label": "Provider" }, el("span", { class: "provider-cell" }, providerDot(model.provider), providerLabel(model.provider))),
    el("td", { "data-label": "Capabilities" }, capabilityChips(model)),
    el("td", { class: "num", "data-label": "Context" }, formatContext(model.context_length)),
    el("td", { class: "num", "data-label": "Price / 1M" },
      `${formatPricePerMillion(model.price_per_input_token)} · ${formatPricePerMillion(model.price_per_output_token)}`),
    el("td", { "data-label": "API key" }, keyCell(model)),
    el("td", { "data-label": "Status" }, statusCell(model)),
    el("td", { class: "cell-actions" }, actions),
  );
}

function renderTable() {
  const query = $("model-filter").value.trim().toLowerCase();
  const provider = $("provider-filter").value;
  const rows = state.models.filter((m) => {
    if (provider && m.provider !== provider) return false;
    if (!query) return true;
    return `${m.name} ${m.model_id} ${m.description ?? ""} ${providerLabel(m.provider)}`.toLowerCase().includes(query);
  });
  $("models-body").replaceChildren(...rows.map(modelRow));
  $("models-table").hidden = rows.length === 0;
  $("models-empty").hidden = rows.length !== 0;
  // an empty registry is not a search that matched nothing
  $("models-empty-title").textContent = state.models.length ? "No models match" : "No models yet";
  $("models-empty-text").textContent = state.models.length
    ? "Try another search or provider."
    : "Add a model with your API key to start chatting.";
  $("model-count").textContent = `${rows.length} of ${state.models.length} model${state.models.length === 1 ? "" : "s"}`;
}

function renderProviderFilter() {
  const select = $("provider-filter");
  const current = select.value;
  const providers = [...new Set(state.models.map((m) => m.provider))].sort((a, b) =>
    providerLabel(a).localeCompare(providerLabel(b)));
  select.replaceChildren(
    el("option", { value: "" }, "All providers"),
    ...providers.map((p) => el("option", { value: p }, providerLabel(p))),
  );
  select.value = providers.includes(current) ? current : "";
}

async function loadModels() {
  try {
    state.models = asList(await api.get("/api/models"), "models").sort((a, b) =>
      Number(b.is_global) - Number(a.is_global) || a.name.localeCompare(b.name));
  } catch (err) {
    $("models-body").replaceChildren(
      el("tr", { class: "loading-row" }, el("td", { colspan: 8 }, `Couldn't load models: ${err.message}`)),
    );
    return;
  }
  renderProviderFilter();
  renderTable();
}

async function setEnabled(model, input) {
  input.disabled = true;
  try {
    const updated = await api.patch(`/api/models/${model.id}`, { enabled: input.checked });
    Object.assign(model, updated ?? { enabled: input.checked });
    toast(`${model.name} ${model.enabled ? "enabled" : "disabled"}`);
  } catch (err) {
    input.checked = !input.checked;
    toast(err.message, "error");
  }
  renderTable();
}

async function deleteModel(model) {
  const ok = await confirmDialog({
    title: "Delete model?",
    message: `“${model.name}” will be removed${model.is_global ? " for everyone" : ""}. Conversations keep their messages. This cannot be undone.`,
  });
  if (!ok) return;
  try {
    await api.delete(`/api/models/${model.id}`);
    state.models = state.models.filter((m) => m.id !== model.id);
    renderProviderFilter();
    renderTable();
    toast(`Deleted ${model.name}`);
  } catch (err) {
    toast(err.message, "error");
  }
}

// ---------- the add / edit dialog ----------

const dialog = $("model-dialog");
const form = $("model-form");
const field = (name) => form.elements.namedItem(name);
const TEXT_FIELDS = ["name", "model_id", "base_url", "description", "context_length", "max_output_tokens"];

const TEMPLATE_MARKS = {
  openai: "AI", anthropic: "A", azure: "Az", "huggingface-router": "HF", "huggingface-tgi": "HF",
  ollama: "Ol", vllm: "vL", lmstudio: "LM", gemini: "G", mistral: "M", groq: "Gq",
  deepseek: "DS", openrouter: "OR", together: "T", custom: "{ }",
};

function templateCard(template) {
  const logo = el("span", { class: "template-logo" }, TEMPLATE_MARKS[template.id] ?? template.label.slice(0, 1));
  logo.style.background = providerColor(template.provider);
  let host = "";
  try { host = new URL(template.base_url).host; } catch { host = template.base_url; }
  return el(
    "button",
    {
      class: "template-card", type: "button", role: "listitem", "data-template": template.id,
      onclick: () => chooseTemplate(template),
    },
    logo,
    el("span", { class: "template-text" },
      el("span", { class: "template-name", title: template.label }, template.label),
      el("span", { class: "template-desc" }, template.id === "custom" ? "Any OpenAI-compatible API" : host)),
  );
}

async function loadTemplates() {
  if (state.templates.length) return;
  try {
    state.templates = asList(await api.get("/api/models/templates"), "templates");
  } catch (err) {
    $("template-grid").replaceChildren(el("p", { class: "field-error" }, `Couldn't load templates: ${err.message}`));
    return;
  }
  $("template-grid").replaceChildren(...state.templates.map(templateCard));
}

function clearErrors() {
  for (const node of form.querySelectorAll("[data-error-for]")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  $("form-error").hidden = true;
}

function showErrors(err) {
  let placed = false;
  for (const [name, message] of Object.entries(err.fields ?? {})) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (!slot) continue;
    slot.textContent = message;
    const input = field(name);
    if (input instanceof HTMLElement) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", slot.id || "");
      if (!placed) {
        input.closest("details")?.setAttribute("open", "");
        input.focus();
      }
    }
    placed = true;
  }
  if (!placed) {
    $("form-error").textContent = err.message;
    $("form-error").hidden = false;
  }
}

function showStep(step) {
  $("template-step").hidden = step !== "template";
  $("config-step").hidden = step !== "config";
  $("config-actions").hidden = step !== "config";
}

function setTestResult(kind, content) {
  const box = $("test-result");
  box.hidden = kind === null;
  box.className = `test-result ${kind ?? ""}`;
  box.replaceChildren(...(content ?? []));
}

function fillForm(source, { keepName = false } = {}) {
  if (!keepName) field("name").value = source.name ?? source.label ?? "";
  field("model_id").value = source.model_id ?? "";
  field("base_url").value = source.base_url ?? "";
  field("description").value = source.description ?? "";
  field("context_length").value = source.context_length ?? "";
  field("max_output_tokens").value = source.max_output_tokens ?? "";
  field("price_per_input_token").value = shiftDecimal(source.price_per_input_token ?? "", 6) ?? "";
  field("price_per_output_token").value = shiftDecimal(source.price_per_output_token ?? "", 6) ?? "";
  for (const name of ["default_temperature", "default_top_p", "rpm_limit", "tpm_limit"]) {
    field(name).value = source[name] ?? "";
  }
  fillFallbacks(source);
  field("auth_type").value = source.auth_type ?? "bearer";
  field("auth_headers").value = "";
  const names = source.auth_header_names ?? [];
  field("auth_headers").placeholder = names.length
    ? `${names.join(", ")} stored — leave empty to keep, or type "-" to remove`
    : "X-Org-Id: value";
  field("options").value = Object.keys(source.options ?? {}).length
    ? JSON.stringify(source.options, null, 2)
    : "";
  const caps = source.capabilities ?? {};
  $("f-streaming").checked = source.supports_streaming ?? caps.streaming ?? true;
  $("f-functions").checked = source.supports_functions ?? caps.functions ?? true;
  $("f-vision").checked = source.supports_vision ?? caps.vision ?? false;
}

/** The fallback choices: the other models the user may use; the chosen ones keep their order. */
function fillFallbacks(source) {
  const chosen = (source.fallback_model_ids ?? []).map(String);
  const own = source.id ? String(source.id) : null;
  const options = state.models.filter((m) => String(m.id) !== own && m.enabled);
  const byId = new Map(options.map((m) => [String(m.id), m]));
  const ordered = [...chosen.filter((id) => byId.has(id)).map((id) => byId.get(id)),
    ...options.filter((m) => !chosen.includes(String(m.id)))];
  field("fallback_model_ids").replaceChildren(...ordered.map((m) => el(
    "option", { value: String(m.id), selected: chosen.includes(String(m.id)) || undefined },
    `${m.name} (${providerLabel(m.provider)})`,
  )));
}

function chooseTemplate(template) {
  state.template = template;
  clearErrors();
  setTestResult(null);
  fillForm(template);
  if (!template.base_url.includes("YOUR-")) field("name").value = template.model_id;
  $("chosen-dot").style.background = providerColor(template.provider);
  $("chosen-name").textContent = template.label;
  $("model-id-suggestions").replaceChildren(el("option", { value: template.model_id }));
  const key = field("api_key");
  key.value = "";
  key.placeholder = template.requires_api_key ? "Paste your API key" : "Not needed for this server";
  $("api-key-help").textContent = template.notes
    ? `${template.notes}.`
    : "Stored encrypted; only its last four characters are ever shown again.";
  showStep("config");
  (template.requires_api_key ? key : field("model_id")).focus();
}

async function openAdd() {
  state.editing = null;
  state.template = null;
  form.reset();
  clearErrors();
  setTestResult(null);
  $("model-dialog-title").textContent = "Add model";
  $("save-model").textContent = "Save model";
  $("change-template").hidden = false;
  const global = $("f-is_global");
  if (global) global.disabled = false;
  showStep("template");
  dialog.showModal();
  await loadTemplates();
  $("template-grid").querySelector("button")?.focus();
}

function openEdit(model) {
  state.editing = model;
  state.template = null;
  form.reset();
  clearErrors();
  setTestResult(null);
  fillForm(model);
  $("model-dialog-title").textContent = `Edit ${model.name}`;
  $("save-model").textContent = "Save changes";
  $("chosen-dot").style.background = providerColor(model.provider);
  $("chosen-name").textContent = providerLabel(model.provider);
  $("change-template").hidden = true;
  const key = field("api_key");
  key.value = "";
  key.placeholder = model.has_api_key ? `•••• ${model.api_key_hint ?? ""} — leave empty to keep` : "No key stored";
  $("api-key-help").textContent = model.has_api_key
    ? "The stored key stays unless you type a new one."
    : "Stored encrypted; only its last four characters are ever shown again.";
  const global = $("f-is_global");
  if (global) {
    global.checked = model.is_global;
    global.disabled = true; // scope is fixed once created
  }
  showStep("config");
  dialog.showModal();
  field("name").focus();
}

/** Read the form into API fields; client-side checks go into `errors`. */
function readForm(errors) {
  const value = (name) => field(name).value.trim();
  const data = {
    name: value("name"),
    model_id: value("model_id"),
    base_url: value("base_url"),
    description: value("description"),
    supports_streaming: $("f-streaming").checked,
    supports_functions: $("f-functions").checked,
    supports_vision: $("f-vision").checked,
  };
  for (const name of ["context_length", "max_output_tokens"]) {
    const text = value(name);
    if (text === "") data[name] = null;
    else if (/^\d+$/.test(text) && Number(text) > 0) data[name] = Number(text);
    else errors[name] = "Enter a whole number of tokens.";
  }
  for (const name of ["price_per_input_token", "price_per_output_token"]) {
    const text = value(name).replace(/^\$/, "");
    const perToken = text === "" ? "0" : shiftDecimal(text, -6);
    if (perToken === null || perToken.startsWith("-")) errors[name] = "Enter a price such as 2.50.";
    else data[name] = perToken;
  }
  for (const [name, max] of [["default_temperature", 2], ["default_top_p", 1]]) {
    const text = value(name);
    const number = Number(text);
    if (text === "") data[name] = null;
    else if (/^\d*\.?\d+$/.test(text) && number <= max) data[name] = number;
    else errors[name] = `Enter a number from 0 to ${max}, or leave it empty.`;
  }
  for (const name of ["rpm_limit", "tpm_limit"]) {
    const text = value(name);
    if (text === "") data[name] = null;
    else if (/^\d+$/.test(text) && Number(text) > 0) data[name] = Number(text);
    else errors[name] = "Enter a whole number above 0, or leave it empty for no limit.";
  }
  data.fallback_model_ids = [...field("fallback_model_ids").selectedOptions].map((o) => o.value);
  data.auth_type = field("auth_type").value;
  const headers = readHeaders(errors);
  if (headers !== undefined) data.auth_headers = headers;
  const optionsText = value("options");
  try {
    const options = optionsText === "" ? {} : JSON.parse(optionsText);
    if (options === null || typeof options !== "object" || Array.isArray(options)) throw new Error();
    data.options = options;
  } catch {
    errors.options = 'Enter a JSON object such as {"api_version": "2024-10-21"}, or leave it empty.';
  }
  if (data.fallback_model_ids.length > 5) errors.fallback_model_ids = "Choose at most 5.";
  if (!data.name) errors.name = "Give the model a name.";
  if (!data.model_id) errors.model_id = "Enter the provider's model id.";
  if (!/^https?:\/\/\S+$/.test(data.base_url)) errors.base_url = "Enter an http:// or https:// URL.";
  return data;
}

/** The typed secret headers: undefined when left empty (keep), {} for "-" (remove). */
function readHeaders(errors) {
  const text = field("auth_headers").value.trim();
  if (text === "") return undefined;
  if (text === "-") return {};
  const headers = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(":");
    const name = at > 0 ? line.slice(0, at).trim() : "";
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) {
      errors.auth_headers = "Write one Name: value per line.";
      return undefined;
    }
    headers[name] = line.slice(at + 1).trim();
  }
  return headers;
}

function createBody(data) {
  const template = state.template;
  const body = { ...data, provider: template.provider };
  const key = field("api_key").value.trim();
  if (key) body.api_key = key;
  const global = $("f-is_global");
  if (global?.checked) body.is_global = true;
  return body;
}

/** Only what changed, so a PATCH never rewrites fields the user did not touch. */
function updateBody(data) {
  const model = state.editing;
  const body = {};
  const before = {
    name: model.name, model_id: model.model_id, base_url: model.base_url,
    description: model.description ?? "",
    supports_streaming: model.supports_streaming ?? model.capabilities?.streaming,
    supports_functions: model.supports_functions ?? model.capabilities?.functions,
    supports_vision: model.supports_vision ?? model.capabilities?.vision,
    context_length: model.context_length ?? null, max_output_tokens: model.max_output_tokens ?? null,
    price_per_input_token: shiftDecimal(model.price_per_input_token ?? "0", 0),
    price_per_output_token: shiftDecimal(model.price_per_output_token ?? "0", 0),
    default_temperature: model.default_temperature ?? null, default_top_p: model.default_top_p ?? null,
    rpm_limit: model.rpm_limit ?? null, tpm_limit: model.tpm_limit ?? null,
    fallback_model_ids: (model.fallback_model_ids ?? []).map(String),
    auth_type: model.auth_type ?? "bearer", options: model.options ?? {},
  };
  for (const [name, value] of Object.entries(data)) {
    if (JSON.stringify(value) !== JSON.stringify(before[name])) body[name] = value;
  }
  const key = field("api_key").value.trim();
  if (key) body.api_key = key; // empty keeps the stored key
  return body;
}

function validated() {
  clearErrors();
  const errors = {};
  const data = readForm(errors);
  if (Object.keys(errors).length) {
    showErrors(new ApiError(422, "Check the highlighted fields.", { fields: errors }));
    return null;
  }
  return data;
}

async function testConnection() {
  const data = validated();
  if (!data) return;
  const button = $("test-connection");
  button.disabled = true;
  setTestResult("", [el("span", { class: "spinner" }), "Testing the connection…"]);
  let body;
  let note = "";
  if (state.editing && !field("api_key").value.trim()) {
    body = { model_id: state.editing.id };
    if (Object.keys(updateBody(data)).length) note = " (saved settings; save to test your changes)";
  } else if (state.editing) {
    body = { ...editDraft(data), api_key: field("api_key").value.trim() };
  } else {
    body = createBody(data);
  }
  try {
    const result = await api.post("/api/models/test-connection", body);
    if (result.ok) {
      const latency = result.latency_ms === null || result.latency_ms === undefined ? "" : ` · ${Math.round(result.latency_ms)} ms`;
      setTestResult("ok", [icon("check", "icon-sm"), el("span", {}, el("strong", {}, "Connected"), `${latency}${note}`)]);
    } else {
      setTestResult("fail", [
        icon("alert", "icon-sm"),
        el("span", {}, el("strong", {}, `Connection failed${result.reason ? ` (${result.reason})` : ""}: `),
          result.message || "The provider did not accept the request."),
      ]);
    }
  } catch (err) {
    if (err.fields && Object.keys(err.fields).length) showErrors(err);
    setTestResult("fail", [icon("alert", "icon-sm"), el("span", {}, el("strong", {}, "Couldn't test: "), err.message)]);
  } finally {
    button.disabled = false;
  }
}

function editDraft(data) {
  const model = state.editing;
  return {
    ...data,
    provider: model.provider,
    is_global: model.is_global,
  };
}

async function save(event) {
  event.preventDefault();
  const data = validated();
  if (!data) return;
  const button = $("save-model");
  button.disabled = true;
  try {
    if (state.editing) {
      const body = updateBody(data);
      if (Object.keys(body).length) await api.patch(`/api/models/${state.editing.id}`, body);
      toast(`Saved ${data.name}`);
    } else {
      await api.post("/api/models", createBody(data));
      toast(`Added ${data.name}`);
    }
    dialog.close();
    await loadModels();
  } catch (err) {
    showErrors(err);
  } finally {
    button.disabled = false;
  }
}

// ---------- wiring ----------

wireDialog(dialog);
form.addEventListener("submit", save);
$("add-model").addEventListener("click", openAdd);
$("change-template").addEventListener("click", () => {
  showStep("template");
  $("template-grid").querySelector("button")?.focus();
});
$("test-connection").addEventListener("click", testConnection);
$("model-filter").addEventListener("input", renderTable);
$("provider-filter").addEventListener("change", renderTable);
for (const name of [...TEXT_FIELDS, "api_key", "price_per_input_token", "price_per_output_token"]) {
  // a stale error or test result must not outlive the value it was about
  field(name).addEventListener("input", () => {
    const slot = form.querySelector(`[data-error-for="${name}"]`);
    if (slot) slot.textContent = "";
    field(name).removeAttribute("aria-invalid");
    setTestResult(null);
  });
}

loadModels();
