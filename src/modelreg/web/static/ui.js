// Shared DOM helpers: element builder, icons, toasts, dialogs, formatting, the mobile nav.
// Everything user-controlled goes in through textContent, never innerHTML.

import { providerColor } from "./format.js";

export * from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * For loads that can overlap (a filter changed while the last answer is on its way): each call
 * of the returned function starts a load and gives back `isLatest()`, so only the newest load
 * paints and a slower, older answer cannot overwrite what the user asked for last.
 */
export function latestOnly() {
  let generation = 0;
  return () => {
    const mine = ++generation;
    return () => mine === generation;
  };
}

/** Build an element: el("button", {class: "btn", onclick: fn}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An icon from the page's inline sprite. */
export function icon(name, extraClass = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", `icon ${extraClass}`.trim());
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = el("div", { class: `toast ${kind}` }, icon(kind === "error" ? "alert" : "check", "icon-sm"), message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 6000 : 3000);
}

/** Ask for confirmation with the page's confirm dialog; resolves true when confirmed. */
export function confirmDialog({ title, message, confirmLabel = "Delete" }) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-message").textContent = message;
  document.getElementById("confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** Ask for one line of text; resolves the trimmed text, or null when cancelled. */
export function promptDialog({ title, label, value = "" }) {
  const dialog = document.getElementById("prompt-dialog");
  const input = document.getElementById("prompt-input");
  document.getElementById("prompt-title").textContent = title;
  document.getElementById("prompt-label").textContent = label;
  input.value = value;
  dialog.returnValue = "";
  document.getElementById("prompt-cancel").onclick = () => dialog.close("cancel");
  dialog.showModal();
  input.select();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "ok" && input.value.trim() ? input.value.trim() : null),
      { once: true },
    );
  });
}

/** Close a dialog when its [data-close] buttons are used or its backdrop is clicked. */
export function wireDialog(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
}

export function providerDot(provider) {
  const dot = el("span", { class: "provider-dot" });
  dot.style.background = providerColor(provider);
  return dot;
}

// ---- mobile navigation drawer ----

function setNav(open) {
  const app = document.querySelector(".app");
  if (!app) return;
  app.dataset.navOpen = open ? "true" : "false";
  if (open) document.querySelector(".sidebar .nav-item")?.focus();
}

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-action]") : null;
  if (!target) return;
  if (target.dataset.action === "open-nav") setNav(true);
  if (target.dataset.action === "close-nav") setNav(false);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.querySelector('.app[data-nav-open="true"]')) setNav(false);
});

export { setNav };
