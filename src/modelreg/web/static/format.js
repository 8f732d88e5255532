// Pure formatting helpers (no DOM), shared by the pages.

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const integer = new Intl.NumberFormat("en");

export function formatTokens(n) {
  if (n === null || n === undefined) return "—";
  return n >= 10000 ? compact.format(n) : integer.format(n);
}

export function formatContext(n) {
  if (!n) return "—";
  if (n >= 1_000_000) return `${Number((n / 1_000_000).toFixed(2))}M`;
  return n >= 1000 ? `${Math.round(n / 1000)}k` : String(n);
}

/** Move the decimal point of a decimal string by `places` (exact; no float rounding).
 * Accepts what Python's Decimal prints, exponents included ("1.5E-7"); null if not a number. */
export function shiftDecimal(value, places) {
  const text = String(value ?? "").trim();
  const match = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text);
  if (!match || (match[2] === "" && (match[3] ?? "") === "")) return null;
  const [, sign, intPart, fracPart = "", exponent = "0"] = match;
  let digits = (intPart || "0") + fracPart;
  let point = (intPart || "0").length + places + Number(exponent);
  if (point <= 0) {
    digits = "0".repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    digits += "0".repeat(point - digits.length);
  }
  let whole = digits.slice(0, point).replace(/^0+(?=\d)/, "");
  const frac = digits.slice(point).replace(/0+$/, "");
  if (whole === "") whole = "0";
  const result = frac ? `${whole}.${frac}` : whole;
  return sign === "-" && /[1-9]/.test(result) ? `-${result}` : result;
}

/** A per-token price string shown per million tokens, e.g. "0.0000025" → "$2.50". */
export function formatPricePerMillion(perToken) {
  const perMillion = shiftDecimal(perToken, 6);
  if (perMillion === null) return "—";
  const n = Number(perMillion);
  if (n === 0) return "free";
  return `$${n < 0.01 ? n.toPrecision(2) : n.toFixed(2)}`;
}

export function formatCost(cost) {
  if (cost === null || cost === undefined || cost === "") return null;
  const n = Number(cost);
  if (!Number.isFinite(n)) return null;
  if (n === 0) return "$0";
  if (n < 0.0001) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(n < 0.01 ? 4 : 3)}`;
}

export function formatLatency(ms) {
  if (ms === null || ms === undefined) return null;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export function formatDate(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : dateTime.format(date);
}

// Stable colours per provider, so the same provider looks the same on every page.
const PROVIDER_COLORS = {
  openai: "#10a37f", anthropic: "#d97757", azure: "#0078d4", azure_openai: "#0078d4",
  huggingface: "#e8a917", ollama: "#6b6b76", vllm: "#7d5bd6", lmstudio: "#4f6bed",
  gemini: "#4285f4", google: "#4285f4", mistral: "#f25c1f", groq: "#f55036",
  deepseek: "#4d6bfe", openrouter: "#6467f2", together: "#0f6fff", custom: "#64748b",
};
export function providerColor(provider) {
  const key = String(provider || "").toLowerCase().replace(/[^a-z_]/g, "");
  if (PROVIDER_COLORS[key]) return PROVIDER_COLORS[key];
  let hash = 0;
  for (const ch of key) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 50%)`;
}

const PROVIDER_LABELS = {
  openai: "OpenAI", anthropic: "Anthropic", azure: "Azure OpenAI", azure_openai: "Azure OpenAI",
  huggingface: "Hugging Face", ollama: "Ollama", vllm: "vLLM", lmstudio: "LM Studio",
  gemini: "Gemini", google: "Gemini", mistral: "Mistral", groq: "Groq", deepseek: "DeepSeek",
  openrouter: "OpenRouter", together: "Together", openai_compat: "OpenAI-compatible",
  custom: "Custom",
};
export function providerLabel(provider) {
  const key = String(provider || "").toLowerCase();
  return PROVIDER_LABELS[key] ?? (provider || "Unknown");
}

