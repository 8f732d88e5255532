// Same-origin JSON API calls with the session cookie, the CSRF header, and one error shape.

const CSRF_COOKIE = "modelreg_csrf";

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** An API failure: `message` is readable, `fields` maps a form field to its message. */
export class ApiError extends Error {
  constructor(status, message, { type = "error", fields = {} } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.fields = fields;
  }
}

function fieldFromLoc(loc) {
  // ours: "api_key" or "options.api_version"; FastAPI: ["body", "api_key"]. The top-level
  // field is what a form input is named after.
  const parts = (Array.isArray(loc) ? loc : String(loc ?? "").split(".")).filter(
    (part) => typeof part === "string" && part && !["body", "query", "path"].includes(part),
  );
  return parts.length ? parts[0] : "";
}

function cleanMessage(msg) {
  // pydantic prefixes custom validator messages with "Value error, "
  return String(msg || "").replace(/^Value error, /, "");
}

/** Turn any error body we may get (ours, FastAPI's, or none) into an ApiError. */
export function errorFromBody(status, body) {
  const fields = {};
  let message = "";
  let type = "error";
  if (body && typeof body === "object") {
    if (body.error && typeof body.error === "object") {
      type = body.error.type || type;
      message = cleanMessage(body.error.message);
      const field = fieldFromLoc(body.error.field ?? "");
      // our validation messages start with "<field>: "; the field label already says that
      if (field) fields[field] = message.replace(`${body.error.field}: `, "");
      for (const item of body.error.errors ?? body.error.details ?? []) {
        const name = fieldFromLoc(item.loc ?? item.field ?? "");
        if (name && !fields[name]) fields[name] = cleanMessage(item.msg ?? item.message);
      }
    } else if (Array.isArray(body.detail)) {
      type = "validation_error";
      for (const item of body.detail) {
        const name = fieldFromLoc(item.loc);
        if (name && !fields[name]) fields[name] = cleanMessage(item.msg);
      }
      message = body.detail.map((item) => cleanMessage(item.msg)).join("; ");
    } else if (typeof body.detail === "string") {
      message = body.detail;
    } else if (typeof body.message === "string") {
      message = body.message;
    }
  }
  if (!message) message = status ? `Request failed (HTTP ${status})` : "Request failed";
  return new ApiError(status, message, { type, fields });
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}

/** fetch with JSON in and out; throws ApiError on failure, redirects to /login on 401. */
export async function request(method, path, body, { signal, headers = {} } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...headers },
    signal,
  };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.", { type: "network" });
  }
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new ApiError(401, "Your session has expired.", { type: "auth" });
  }
  if (!response.ok) throw errorFromBody(response.status, await readBody(response));
  if (response.status === 204) return null;
  return readBody(response);
}

export const api = {
  get: (path, opts) => request("GET", path, undefined, opts),
  post: (path, body, opts) => request("POST", path, body ?? {}, opts),
  patch: (path, body, opts) => request("PATCH", path, body ?? {}, opts),
  delete: (path, opts) => request("DELETE", path, undefined, opts),
};

/** Lists may come bare or wrapped ({items: [...]}, {data: [...]}); accept both. */
export function asList(body, key) {
  if (Array.isArray(body)) return body;
  if (body && typeof body === "object") {
    for (const name of [key, "items", "data", "results"]) {
      if (name && Array.isArray(body[name])) return body[name];
    }
  }
  return [];
}

/**
 * Read a text/event-stream response body as {event, data} objects (data parsed as JSON).
 * Network failures surface as exceptions from the iterator, after the events that arrived.
 */
export async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let data = [];
  const flush = () => {
    if (!data.length) {
      event = "message";
      return null;
    }
    const raw = data.join("\n");
    const name = event;
    event = "message";
    data = [];
    let parsed;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = { text: raw };
    }
    return { event: name, data: parsed };
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        const item = flush();
        if (item) yield item;
      } else if (line.startsWith(":")) {
        continue; // comment / keep-alive
      } else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value2 = colon < 0 ? "" : line.slice(colon + 1);
        if (value2.startsWith(" ")) value2 = value2.slice(1);
        if (field === "event") event = value2;
        else if (field === "data") data.push(value2);
      }
    }
  }
  const last = flush();
  if (last) yield last;
}
