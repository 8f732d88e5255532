// The account page: change one's own password, and one's own API tokens (create, see last use,
// revoke). The token itself is shown once, right after it is made.
import { api, ApiError, asList } from "./api.js";
import { confirmDialog, el, formatDate, icon, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const passwordForm = $("password-form");
const tokenForm = $("token-form");

function clearErrors(form, box) {
  for (const node of form.querySelectorAll("[data-error-for]")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  box.hidden = true;
}

function showErrors(form, box, err) {
  let placed = false;
  for (const [name, message] of Object.entries(err.fields ?? {})) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (!slot) continue;
    slot.textContent = message;
    const input = form.elements.namedItem(name) ?? (name === "expires_at" ? $("tk-expiry") : null);
    input?.setAttribute("aria-invalid", "true");
    placed = true;
  }
  if (!placed) {
    box.textContent = err.message;
    box.hidden = false;
  }
}

// --- password -------------------------------------------------------------------------

passwordForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("password-form-error");
  clearErrors(passwordForm, box);
  const data = Object.fromEntries(new FormData(passwordForm));
  const errors = {};
  if (!data.current_password) errors.current_password = "Enter your current password.";
  if (String(data.new_password).length < 8) errors.new_password = "At least 8 characters.";
  else if (data.new_password !== data.confirm) errors.confirm = "The two new passwords differ.";
  if (Object.keys(errors).length) {
    showErrors(passwordForm, box, new ApiError(422, "Check the fields.", { fields: errors }));
    return;
  }
  const submit = passwordForm.querySelector('button[type="submit"]');
  submit.disabled = true;
  try {
    await api.post("/api/users/me/password", {
      current_password: data.current_password,
      new_password: data.new_password,
    });
    passwordForm.reset();
    toast("Password changed. Your other sessions were signed out.");
  } catch (err) {
    showErrors(passwordForm, box, err);
  } finally {
    submit.disabled = false;
  }
});

// --- tokens ---------------------------------------------------------------------------

function tokenState(token) {
  if (token.revoked_at) return el("span", { class: "badge" }, "Revoked");
  if (token.expires_at && new Date(token.expires_at) <= new Date()) {
    return el("span", { class: "badge badge-warning" }, "Expired");
  }
  return null;
}

function tokenRow(token) {
  const live = !token.revoked_at && !(token.expires_at && new Date(token.expires_at) <= new Date());
  const name = token.name || "unnamed";
  return el(
    "tr",
    { "data-testid": "token-row", class: live ? "" : "row-muted" },
    el("td", {}, el("span", { class: "cell-title" }, name, tokenState(token))),
    el("td", { "data-label": "Token" }, el("code", { class: "nowrap" }, `${token.prefix}…`)),
    el("td", { "data-label": "Created" }, formatDate(token.created_at)),
    el("td", { "data-label": "Last used", "data-testid": "token-last-used" }, token.last_used_at ? formatDate(token.last_used_at) : "Never"),
    el("td", { "data-label": "Expires" }, token.expires_at ? formatDate(token.expires_at) : "Never"),
    el("td", {}, el("div", { class: "row-actions" }, live
      ? el("button", {
        class: "btn btn-secondary btn-sm",
        type: "button",
        "aria-label": `Revoke token ${name}`,
        onclick: () => revoke(token),
      }, icon("trash", "icon-sm"), el("span", {}, "Revoke"))
      : null)),
  );
}

async function loadTokens() {
  const body = $("tokens-body");
  try {
    const tokens = asList(await api.get("/api/tokens"), "tokens");
    body.replaceChildren(...tokens.map(tokenRow));
    if (!tokens.length) body.append(el("tr", { class: "empty-row" }, el("td", { colspan: 6 }, "No tokens yet")));
  } catch (err) {
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 6 }, `Couldn't load tokens: ${err.message}`)));
  }
}

async function revoke(token) {
  const name = token.name || "unnamed";
  const ok = await confirmDialog({
    title: `Revoke ${name}?`,
    message: "Programs using this token stop working at once. This cannot be undone.",
    confirmLabel: "Revoke",
  });
  if (!ok) return;
  try {
    await api.delete(`/api/tokens/${encodeURIComponent(token.id)}`);
    toast(`Revoked ${name}`);
  } catch (err) {
    toast(err.message, "error");
  }
  await loadTokens();
}

tokenForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("token-form-error");
  const tokenBox = $("token-secret");
  clearErrors(tokenForm, box);
  const name = $("tk-name").value.trim();
  if (!name) {
    showErrors(tokenForm, box, new ApiError(422, "Check the fields.", { fields: { name: "Name the token." } }));
    return;
  }
  const days = Number($("tk-expiry").value);
  const body = { name };
  if (days) body.expires_at = new Date(Date.now() + days * 86_400_000).toISOString();
  const submit = tokenForm.querySelector('button[type="submit"]');
  submit.disabled = true;
  try {
    const made = await api.post("/api/tokens", body);
    $("token-secret-value").value = made.token;
    tokenBox.hidden = false;
    $("token-secret-value").select();
    tokenForm.reset();
    await loadTokens();
  } catch (err) {
    showErrors(tokenForm, box, err);
  } finally {
    submit.disabled = false;
  }
});

$("token-copy").addEventListener("click", async () => {
  const value = $("token-secret-value").value;
  try {
    await navigator.clipboard.writeText(value);
    toast("Token copied");
  } catch {
    $("token-secret-value").select();
    toast("Press Ctrl+C to copy the selected token");
  }
});

$("base-url").textContent = `${location.origin}/v1`;
loadTokens();
