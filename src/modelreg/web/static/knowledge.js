// The knowledge page: collections, uploads, and each document's indexing status (polled
// while any document is queued or indexing).
import { api, ApiError, asList, csrfToken, errorFromBody } from "./api.js";
import { el, latestOnly, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
let timer = 0;

function option(value, label) {
  return el("option", { value }, label);
}

async function loadModels() {
  const models = asList(await api.get("/api/models"), "models").filter((m) => m.enabled !== false);
  const embedders = models.filter((m) => m.kind === "embedding");
  $("collection-embedder").replaceChildren(...embedders.map((m) => option(m.id, m.name)));
  $("collection-extractor").append(...models.filter((m) => m.kind !== "embedding").map((m) => option(m.id, m.name)));
  $("collection-create").disabled = !embedders.length;
}

async function loadCollections(selectId) {
  const list = asList(await api.get("/api/collections"), "collections");
  const select = $("collection-select");
  const keep = selectId ?? select.value;
  select.replaceChildren(...list.map((c) => option(c.id, c.is_global ? `${c.name} (company)` : c.name)));
  if (keep && list.some((c) => c.id === keep)) select.value = keep;
  await loadDocuments();
}

function statusBadge(doc) {
  const kind = doc.status === "ready" ? "badge-success" : doc.status === "failed" ? "badge-danger" : "badge-accent";
  return el("span", { class: `badge ${kind}`, "data-testid": "document-status" }, doc.progress);
}

const documentsLoad = latestOnly();

async function loadDocuments() {
  clearTimeout(timer);
  const id = $("collection-select").value;
  const body = $("documents-body");
  if (!id) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No collection yet.")));
    return;
  }
  const isLatest = documentsLoad();
  const docs = asList(await api.get(`/api/collections/${encodeURIComponent(id)}/documents`), "documents");
  if (!isLatest()) return; // another collection was picked meanwhile
  body.replaceChildren(...docs.map((d) => el("tr", {},
    el("td", {}, d.filename),
    el("td", {}, statusBadge(d)),
    el("td", {}, String(d.chunk_count)),
    el("td", {}, el("button", {
      class: "btn btn-secondary btn-sm", type: "button", "aria-label": `Delete ${d.filename}`,
      onclick: async () => { await api.delete(`/api/documents/${encodeURIComponent(d.id)}`); loadDocuments(); },
    }, "Delete")))));
  if (!docs.length) body.append(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No documents yet.")));
  if (docs.some((d) => d.status === "queued" || d.status === "indexing")) timer = setTimeout(loadDocuments, 1000);
}

$("collection-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const made = await api.post("/api/collections", {
      name: $("collection-name").value,
      embedding_model_id: $("collection-embedder").value,
      extraction_model_id: $("collection-extractor").value || undefined,
    });
    $("collection-name").value = "";
    await loadCollections(made.id);
    toast("Collection created.");
  } catch (err) {
    toast(err.message, "error");
  }
});

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("collection-select").value;
  const file = $("upload-file").files[0];
  if (!id || !file) return;
  const form = new FormData();
  form.append("file", file);
  const response = await fetch(`/api/collections/${encodeURIComponent(id)}/documents`, {
    method: "POST", credentials: "same-origin", body: form,
    headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
  });
  if (!response.ok) {
    let parsed = null;
    try { parsed = await response.json(); } catch { /* not JSON */ }
    const err = errorFromBody(response.status, parsed);
    toast(err instanceof ApiError ? err.message : "Upload failed.", "error");
    return;
  }
  $("upload-file").value = "";
  await loadDocuments();
});

$("collection-select").addEventListener("change", loadDocuments);

await loadModels();
await loadCollections();
