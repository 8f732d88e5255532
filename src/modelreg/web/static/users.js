// The users page (admins): list and create users.
import { api, ApiError, asList } from "./api.js";
import { el, formatDate, toast, wireDialog } from "./ui.js";

const $ = (id) => document.getElementById(id);
const dialog = $("user-dialog");
const form = $("user-form");

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
      el("span", { class: "status-dot" }), active ? "Active" : "Deactivated")),
    el("td", { "data-label": "Created" }, formatDate(user.created_at)),
  );
}

async function loadUsers() {
  const body = $("users-body");
  try {
    const users = asList(await api.get("/api/users"), "users");
    body.replaceChildren(...users.map(userRow));
    if (!users.length) body.append(el("tr", { class: "empty-row" }, el("td", { colspan: 4 }, "No users yet")));
  } catch (err) {
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 4 }, `Couldn't load users: ${err.message}`)));
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

loadUsers();
