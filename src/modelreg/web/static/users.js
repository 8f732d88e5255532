// The users page (admins): list, create and manage users (role, disable / enable, password,
// delete), and see everyone's personal models (owner and use, never their keys).
import { api, ApiError, asList } from "./api.js";
import { confirmDialog, el, formatCost, formatDate, providerDot, providerLabel, toast, wireDialog } from "./ui.js";

const $ = (id) => document.getElementById(id);
const dialog = $("user-dialog");
const form = $("user-form");
const manage = $("manage-dialog");
const me = document.querySelector("[data-testid=current-user]")?.textContent ?? "";
let managed = null;

function userRow(user) {
  const active = user.is_active !== false;
  return el(
    "tr",
    { "data-testid": "user-row" },
    el("td", {}, el("span", { class: "cell-title" },
      el("span", { class: "avatar", "aria-hidden": "true" }, (user.username ?? "?").slice(0, 1).toUpperCase()),
      user.username)),
    el("td", { "data-label": "Role" }, user.role === "admin"
      ? el("span", { class: "badge badge-accent" }, "Administrator")
      : el("span", { class: "badge" }, "Member")),
    el("td", { "data-label": "Status" }, el("span", { class: `status ${active ? "on" : ""}` },
      el("span", { class: "status-dot" }), active ? "Active" : "Disabled")),
    el("td", { "data-label": "Created" }, formatDate(user.created_at)),
    el("td", {}, el("div", { class: "row-actions" }, user.username === me
      ? el("a", { class: "btn btn-ghost btn-sm", href: "/account" }, "Your account")
      : el("button", {
        class: "btn btn-secondary btn-sm",
        type: "button",
        "aria-label": `Manage ${user.username}`,
        onclick: () => openManage(user),
      }, "Manage"))),
  );
}

async function loadUsers() {
  const body = $("users-body");
  try {
    const users = asList(await api.get("/api/users"), "users");
    body.replaceChildren(...users.map(userRow));
    if (!users.length) body.append(el("tr", { class: "empty-row" }, el("td", { colspan: 5 }, "No users yet")));
  } catch (err) {
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 5 }, `Couldn't load users: ${err.message}`)));
  }
}

function clearErrors() {
  for (const node of form.querySelectorAll("[data-error-for]")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  $("user-form-error").hidden = true;
}

function showErrors(err) {
  let placed = false;
  for (const [name, message] of Object.entries(err.fields ?? {})) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (!slot) continue;
    slot.textContent = message;
    form.elements.namedItem(name)?.setAttribute("aria-invalid", "true");
    placed = true;
  }
  if (!placed) {
    $("user-form-error").textContent = err.message;
    $("user-form-error").hidden = false;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const data = Object.fromEntries(new FormData(form));
  data.username = String(data.username).trim();
  const errors = {};
  if (!data.username) errors.username = "Enter a username.";
  if (!data.password) errors.password = "Enter a password.";
  if (Object.keys(errors).length) {
    showErrors(new ApiError(422, "Check the fields.", { fields: errors }));
    return;
  }
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  try {
    await api.post("/api/users", data);
    dialog.close();
    toast(`Created ${data.username}`);
    await loadUsers();
  } catch (err) {
    showErrors(err);
  } finally {
    submit.disabled = false;
  }
});

wireDialog(dialog);
$("add-user").addEventListener("click", () => {
  form.reset();
  clearErrors();
  dialog.showModal();
  $("u-username").focus();
});

// --- manage one user ------------------------------------------------------------------

function manageError(err) {
  const box = $("manage-error");
  const slot = manage.querySelector('[data-error-for="password"]');
  slot.textContent = "";
  box.hidden = true;
  if (!err) return;
  if (err.fields?.password) slot.textContent = err.fields.password;
  else {
    box.textContent = err.message;
    box.hidden = false;
  }
}

function fillManage(user) {
  managed = user;
  $("manage-title").textContent = `Manage ${user.username}`;
  $("m-role").value = user.role;
  const active = user.is_active !== false;
  $("m-toggle").textContent = active ? "Disable user" : "Enable user";
  $("m-access-help").textContent = active
    ? "Disabling signs the user out everywhere and revokes their API tokens at once."
    : "Disabled. Enabling lets them sign in again; their old tokens stay revoked.";
}

function openManage(user) {
  fillManage(user);
  manageError(null);
  $("m-password").value = "";
  manage.showModal();
}

async function change(body, done) {
  manageError(null);
  try {
    const user = await api.patch(`/api/users/${encodeURIComponent(managed.id)}`, body);
    fillManage(user);
    toast(done(user));
    await loadUsers();
  } catch (err) {
    manageError(err);
  }
}

$("m-save-role").addEventListener("click", () => change(
  { role: $("m-role").value },
  (user) => `${user.username} is now ${user.role === "admin" ? "an administrator" : "a member"}`,
));

$("m-toggle").addEventListener("click", () => change(
  { is_active: managed.is_active === false },
  (user) => `${user.username} ${user.is_active ? "enabled" : "disabled"}`,
));

$("m-password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  manageError(null);
  const password = $("m-password").value;
  if (password.length < 8) {
    manageError(new ApiError(422, "Check the password.", { fields: { password: "At least 8 characters." } }));
    return;
  }
  try {
    await api.post(`/api/users/${encodeURIComponent(managed.id)}/password`, { password });
    $("m-password").value = "";
    toast(`Password of ${managed.username} set`);
  } catch (err) {
    manageError(err);
  }
});

$("m-delete").addEventListener("click", async () => {
  const user = managed;
  manage.close();
  const ok = await confirmDialog({
    title: `Delete ${user.username}?`,
    message: "Their personal models, conversations and API tokens are deleted. Their usage stays in the reports, without their name. This cannot be undone.",
    confirmLabel: "Delete user",
  });
  if (!ok) return;
  try {
    await api.delete(`/api/users/${encodeURIComponent(user.id)}`);
    toast(`Deleted ${user.username}`);
  } catch (err) {
    toast(err.message, "error");
  }
  await Promise.all([loadUsers(), loadPersonalModels()]);
});

wireDialog(manage);

// --- personal models (everyone's) ----------------------------------------------------------

function personalRow(model) {
  return el(
    "tr",
    { "data-testid": "personal-model-row" },
    el("td", {}, el("span", { class: "cell-title" }, model.name)),
    el("td", { "data-label": "Owner" }, model.owner_username),
    el("td", { "data-label": "Provider" }, el("span", { class: "provider-cell" }, providerDot(model.provider), providerLabel(model.provider))),
    el("td", { "data-label": "Requests" }, String(model.requests)),
    el("td", { "data-label": "Cost" }, formatCost(model.cost)),
    el("td", { "data-label": "Last used" }, model.last_used_at ? formatDate(model.last_used_at) : "Never"),
  );
}

async function loadPersonalModels() {
  const body = $("personal-body");
  try {
    const models = asList(await api.get("/api/personal-models"), "models");
    body.replaceChildren(...models.map(personalRow));
    if (!models.length) body.append(el("tr", { class: "empty-row" }, el("td", { colspan: 6 }, "No personal models yet")));
  } catch (err) {
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 6 }, `Couldn't load models: ${err.message}`)));
  }
}

loadUsers();
loadPersonalModels();
