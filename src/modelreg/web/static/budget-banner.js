// The budget banner: shown to the users a budget covers once its spend passes 80 % of the
// limit this month, and when it is used up (requests refused). Fed by GET /api/budgets;
// refreshed after each answer (chat.js) and when the tab comes back into view.

import { api } from "./api.js";
import { el, formatCost } from "./ui.js";

const SCOPES = { global: "The company's", model: "This model's", user: "Your" };

function sentence(budget) {
  const who = budget.scope === "model" ? "A model's" : SCOPES[budget.scope] ?? "A";
  const limit = formatCost(budget.limit_usd) || `$${budget.limit_usd}`;
  if (budget.state === "exceeded") {
    return `${who} monthly budget of ${limit} is used up: requests it covers are refused until next month or until an admin raises it.`;
  }
  return `${who} monthly budget is ${Math.floor(budget.percent)} % used (${formatCost(budget.spent_usd) || "$0"} of ${limit}).`;
}

export async function refreshBudgets() {
  const banner = document.getElementById("budget-banner");
  if (!banner) return;
  let budgets;
  try {
    budgets = await api.get("/api/budgets");
  } catch {
    return; // the banner is a hint; the chat still says why a request is refused
  }
  const concerning = budgets.filter((b) => b.applies_to_me && b.state !== "ok");
  concerning.sort((a, b) => (a.state === b.state ? b.percent - a.percent : a.state === "exceeded" ? -1 : 1));
  if (!concerning.length) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  // the most urgent first; every budget that concerns the user has its own line
  banner.dataset.state = concerning[0].state;
  banner.replaceChildren(...concerning.slice(0, 3).map((b) => el("p", { "data-state": b.state }, sentence(b))));
  banner.hidden = false;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshBudgets();
});
refreshBudgets();
