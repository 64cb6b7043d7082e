/* Markdown as DOM nodes, never HTML; links only http(s), mailto, same origin; no images. */
import { el } from "./core.js";

// A safe absolute URL or null: http(s) and mailto anywhere, relative ones on this origin.
export function safeUrl(raw) {
  const u = String(raw || "").trim();
  if (!u) return null;
  let r;
  try { r = new URL(u, location.href); } catch (e) { return null; }
  if (r.protocol === "mailto:") return r.href;
  if (r.protocol !== "http:" && r.protocol !== "https:") return null;
  if (/^https?:/i.test(u)) return r.href;
  return r.origin === location.origin ? r.href : null;
}
const anchor = (href) => el("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" });
export function link(text, url) {
  const href = safeUrl(url);
  if (!href) return document.createTextNode(text);
  const a = anchor(href);
  a.textContent = text || href;
  return a;
}
// The index of the closing marker `mk` after `from`, or -1 (a closer follows a non-space).
function closer(s, from, mk) {
  for (let j = s.indexOf(mk, from); j > -1; j = s.indexOf(mk, j + 1)) {
    if (mk.length === 1 && s[j + 1] === mk) { j++; continue; }
    if (j > from && !/\s/.test(s[j - 1])) return j;
  }
  return -1;
}
// `[text](url)` starting at s[i] === "[": {text, url, end} or null.
function linkAt(s, i) {
  const close = s.indexOf("](", i);
  if (close < 0 || s.slice(i + 1, close).includes("\n")) return null;
  let depth = 0;
  for (let j = close + 2; j < s.length; j++) {
    const c = s[j];
    if (c === "(") depth++;
    else if (c === ")" && depth-- === 0) {
      const target = s.slice(close + 2, j).trim().split(/\s+/)[0].replace(/^<(.*)>$/, "$1");
      return { text: s.slice(i + 1, close), url: target, end: j + 1 };
    }
    else if (c === "\n") return null;
  }
  return null;
}
const AUTOLINK = /^https?:\/\/[^\s<>"]*[^\s<>".,:;'!?)\]]/;
// Draw inline Markdown into `parent`; `plain` (inside a link) draws no further links.
function inline(parent, s, plain) {
  let buf = "";
  const flush = () => {
    buf.split("\n").forEach((part, n) => {
      if (n) parent.append(el("br"));
      if (part) parent.append(part);
    });
    buf = "";
  };
  for (let i = 0; i < s.length;) {
    const c = s[i];
    let m, j;
    if (c === "\\" && /[\\`*_{}[\]()#+\-.!>~|<]/.test(s[i + 1] || "")) {
      buf += s[i + 1]; i += 2; continue;
    }
    if (c === "`" && (j = s.indexOf("`", i + 1)) > i + 1) {
      flush(); parent.append(el("code", { text: s.slice(i + 1, j) })); i = j + 1; continue;
    }
    if (!plain && c === "!" && s[i + 1] === "[" && (m = linkAt(s, i + 1))) {
      flush(); parent.append(link(m.text || "image", m.url)); i = m.end; continue;
    }
    if (!plain && c === "[" && (m = linkAt(s, i))) {
      flush();
      const href = safeUrl(m.url);
      if (href) parent.append(inline(anchor(href), m.text || href, true));
      else inline(parent, m.text, true);
      i = m.end; continue;
    }
    if (!plain && c === "h" && !/\w/.test(s[i - 1] || "") && (m = AUTOLINK.exec(s.slice(i)))) {
      flush(); parent.append(link(m[0], m[0])); i += m[0].length; continue;
    }
    if (c === "*" || c === "_" || c === "~") {
      const mk = s[i + 1] === c ? c + c : c;
      const open = i + mk.length;
      const ok = s[open] && !/\s/.test(s[open]) && (c !== "_" || !/\w/.test(s[i - 1] || ""));
      if (ok && (c !== "~" || mk.length === 2) && (j = closer(s, open, mk)) > -1) {
        flush();
        const tag = c === "~" ? "del" : mk.length === 2 ? "strong" : "em";
        parent.append(inline(el(tag), s.slice(open, j), plain));
        i = j + mk.length; continue;
      }
    }
    buf += c; i++;
  }
  flush();
  return parent;
}
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(\s+#+)?\s*$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
export function markdown(text) {
  const out = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let para = [], list = null;
  const endPara = () => { if (para.length) out.append(inline(el("p"), para.join("\n"))); para = []; };
  const endList = () => {
    if (!list) return;
    const node = el(list.tag, list.start > 1 ? { start: list.start } : null);
    for (const item of list.items) node.append(inline(el("li"), item.join("\n")));
    out.append(node);
    list = null;
  };
  const end = () => { endPara(); endList(); };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if ((m = FENCE.exec(line))) {
      end();
      const code = [];
      while (++i < lines.length && !lines[i].trim().startsWith(m[1])) code.push(lines[i]);
      const c = el("code", { text: code.join("\n") });
      if (m[2]) c.className = "language-" + m[2];
      out.append(el("pre", null, c));
    } else if (!line.trim()) {
      end();
    } else if ((m = HEADING.exec(line))) {
      end();
      out.append(inline(el("h" + Math.min(6, m[1].length + 2)), m[2]));
    } else if (RULE.test(line)) {
      end();
      out.append(el("hr"));
    } else if ((m = ITEM.exec(line))) {
      endPara();
      const tag = /\d/.test(m[2]) ? "ol" : "ul";
      if (list && list.tag !== tag && !m[1]) endList();
      if (!list) list = { tag, start: parseInt(m[2], 10) || 1, items: [] };
      list.items.push([m[3]]);
    } else if (list && /^\s+\S/.test(line)) {
      list.items[list.items.length - 1].push(line.trim());
    } else if ((m = QUOTE.exec(line))) {
      end();
      const quoted = [m[1]];
      while (i + 1 < lines.length && (m = QUOTE.exec(lines[i + 1]))) { quoted.push(m[1]); i++; }
      out.append(el("blockquote", null, markdown(quoted.join("\n"))));
    } else {
      endList();
      para.push(line.trim());
    }
  }
  end();
  return out;
}

