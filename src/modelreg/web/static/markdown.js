// Markdown for model output, with well-kept libraries (vendored, pinned: vendor/vendor.json;
// update with scripts/update_vendor.py): marked parses GitHub-flavoured Markdown (tables,
// nested lists, fences), highlight.js colours code, DOMPurify sanitises the result.
//
// Safety has two layers. First, nothing from the input becomes a tag: raw HTML in an answer
// is shown as text (a model's "<b>" is something it wrote, not markup), links must be
// http(s), and images become links (no remote fetches from the page). Second, DOMPurify keeps
// only the few tags and attributes our renderer writes.

import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.js";
import hljs from "./vendor/highlight.min.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

function safeUrl(href) {
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function link(href, label, raw) {
  const url = safeUrl(href);
  if (!url) return escapeHtml(raw); // shown as written: no link to anything but http(s)
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer nofollow">${label}</a>`;
}

// the language names a fence may give, as a class and a label: letters, digits and + # . -
const LANG = /^[\w+#.-]{1,40}$/;

function codeBlock(text, lang) {
  const language = lang && LANG.test(lang) ? lang : "";
  let body = escapeHtml(text);
  if (language && hljs.getLanguage(language)) {
    body = hljs.highlight(text, { language, ignoreIllegals: true }).value;
  }
  const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : "<span></span>";
  return (
    `<div class="code-block"><div class="code-head">${label}` +
    `<button type="button" class="code-copy" aria-label="Copy">Copy</button></div>` +
    `<pre data-lang="${escapeHtml(language)}"><code class="hljs">${body}</code></pre></div>`
  );
}

const marked = new Marked({
  gfm: true,
  breaks: true, // a line break in an answer is a line break, as chat apps show it
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    link({ href, tokens, raw }) {
      return link(href, this.parser.parseInline(tokens), raw);
    },
    image({ href, text, raw }) {
      return link(href, escapeHtml(text || href), raw);
    },
    code({ text, lang }) {
      return codeBlock(text, (lang || "").trim().split(/\s+/)[0]);
    },
  },
});

const PURIFY = {
  ALLOWED_TAGS: [
    "a", "blockquote", "br", "button", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
  ],
  // (no ALLOWED_URI_REGEXP: DOMPurify applies it to every attribute not known as URI-safe,
  // which drops target="_blank"; its default already refuses javascript: and data: links)
  ALLOWED_ATTR: ["href", "target", "rel", "class", "data-lang", "start", "align", "type", "aria-label"],
};

/** Render Markdown to an HTML string that is safe to assign to innerHTML. An unclosed fence
 * (an answer still streaming) is already a code block. */
export function renderMarkdown(source) {
  const text = String(source ?? "").replaceAll("\u0000", "");
  return DOMPurify.sanitize(marked.parse(text, { async: false }), PURIFY).trim();
}
