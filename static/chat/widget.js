/* Concierge chat widget. Vanilla JS, no build step; speaks PROTOCOL.md (version 1).
 *
 * Safety: every node is made with createElement and textContent, so nothing the model (or anyone)
 * writes is ever parsed as HTML. Links are kept only for http(s), mailto and same-origin URLs;
 * Markdown images become plain links and are never loaded.
 * Settings come from data- attributes on #concierge (the CSP forbids inline scripts and styles).
 */
(() => {
  "use strict";
  const root = document.getElementById("concierge");
  if (!root || root.dataset.mounted) return;
  root.dataset.mounted = "1";

  const D = root.dataset;
  const cfg = {
    ws: D.wsPath || "/ws/chat/",
    sse: D.ssePath || "/api/chat/stream/",
    api: D.apiPath || "/api/chat/",
    title: D.siteName || "Concierge",
    maxImage: +D.maxImageBytes || 5242880,
    contact: { email: D.supportEmail, phone: D.supportPhone, url: D.supportUrl, hours: D.supportHours },
  };
  const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];
  const store = {
    get: (k) => { try { return localStorage.getItem("concierge:" + k); } catch (e) { return null; } },
    set: (k, v) => {
      try {
        if (v == null) localStorage.removeItem("concierge:" + k);
        else localStorage.setItem("concierge:" + k, v);
      } catch (e) { /* storage disabled: the conversation lasts one page */ }
    },
  };

  // --- DOM helpers --------------------------------------------------------------------------
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const k in props || {}) {
      const v = props[k];
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids) if (kid != null) e.append(kid);
    return e;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function icon(d, cls) {
    const s = document.createElementNS(SVG, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    s.setAttribute("class", "cc-ico" + (cls ? " " + cls : ""));
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", d);
    s.append(p);
    return s;
  }
  const I = {
    chat: "M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z",
    min: "M5 12h14",
    close: "M6 6l12 12M18 6L6 18",
    clip: "M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9",
    send: "M22 2L11 13M22 2l-7 20-4-9-9-4z",
    stop: "M7 7h10v10H7z",
  };
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // --- Markdown, drawn as DOM nodes ---------------------------------------------------------
  /* Return an absolute URL that is safe to link to, or null: http(s) and mailto anywhere,
   * anything else only when it resolves to this origin (relative links). */
  function safeUrl(raw) {
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
  function link(text, url) {
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
  function markdown(text) {
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

  // --- The window -----------------------------------------------------------------------------
  const badge = el("span", { class: "cc-badge", hidden: true, "aria-hidden": "true" });
  const bubble = el("button", {
    type: "button", class: "cc-bubble", "aria-label": `Open the ${cfg.title} chat`,
    "aria-expanded": "false", "aria-controls": "cc-window", onclick: () => (win.hidden ? openWin(true) : closeWin()),
  }, icon(I.chat), badge);
  const connEl = el("span", { class: "cc-conn" });
  const minBtn = el("button", { type: "button", class: "cc-icon cc-minimize", "aria-label": "Minimize chat", onclick: minimize }, icon(I.min));
  const closeBtn = el("button", { type: "button", class: "cc-icon cc-close", "aria-label": "Close chat", onclick: closeWin }, icon(I.close));
  const header = el("header", { class: "cc-head" },
    el("div", { class: "cc-head-text" }, el("h2", { id: "cc-title", class: "cc-title", text: cfg.title }), connEl),
    minBtn, closeBtn);
  const usageEl = el("span", { class: "cc-usage", hidden: true });
  const universeEl = el("select", { class: "cc-universe", "aria-label": "Topic", hidden: true, onchange: () => store.set("universe", universeEl.value || null) });
  const bar = el("div", { class: "cc-bar" }, usageEl, universeEl);
  const logEl = el("div", { class: "cc-log", tabindex: "0", "aria-label": "Conversation" });
  const liveEl = el("div", { class: "cc-sr", "aria-live": "polite", "aria-atomic": "true" });
  const errText = el("span", { class: "cc-error-text" });
  const retryBtn = el("button", { type: "button", class: "cc-retry", text: "Retry", onclick: () => { const again = retryAction; hideError(); if (again) again(); } });
  const errorEl = el("div", { class: "cc-error", role: "alert", hidden: true }, errText, retryBtn);
  const fileIn = el("input", { type: "file", accept: IMAGE_TYPES.join(","), class: "cc-file", hidden: true, tabindex: "-1", onchange: pickImage });
  const chip = el("div", { class: "cc-chip", hidden: true });
  const input = el("textarea", {
    class: "cc-input", rows: "1", "aria-label": "Your message", placeholder: "Ask a question…", maxlength: D.maxChars || "4000",
    oninput: () => { input.rows = Math.min(5, input.value.split("\n").length); },
    onkeydown: (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    },
  });
  const attachBtn = el("button", { type: "button", class: "cc-icon cc-attach", "aria-label": "Attach an image", onclick: () => fileIn.click() }, icon(I.clip));
  const sendBtn = el("button", { type: "submit", class: "cc-icon cc-send", "aria-label": "Send" }, icon(I.send));
  const stopBtn = el("button", { type: "button", class: "cc-stop", hidden: true, onclick: stop }, icon(I.stop, "cc-fill"), "Stop");
  const form = el("form", { class: "cc-form", onsubmit: (e) => { e.preventDefault(); submit(); } },
    chip, el("div", { class: "cc-row" }, attachBtn, input, sendBtn, stopBtn), fileIn);
  const win = el("section", {
    id: "cc-window", class: "cc-window", role: "dialog", "aria-modal": "true", "aria-labelledby": "cc-title", hidden: true,
    onkeydown: trapKeys,
  }, header, bar, logEl, errorEl, form, liveEl);
  root.append(win, bubble);

  // --- State ----------------------------------------------------------------------------------
  let session = store.get("session");
  let mode = D.forceSse === "true" || store.get("forceSSE") === "1" ? "sse" : "ws";
  let ws = null, live = false, everReady = false, shown = false, started = false;
  let wsFails = 0, attempt = 0, retryTimer = 0, pingTimer = 0;
  let busy = false, cur = null, unread = 0, attached = null, retryAction = null, follow = true;
  let sseCtl = null, typingEl = null, stopping = false;
  const sent = new Map(), users = new Map(), replies = new Map();
  const pending = new Set(), acked = new Set(), outbox = [];

  // --- Opening, closing, keyboard -------------------------------------------------------------
  function openWin(focus) {
    win.hidden = false;
    win.classList.remove("cc-min");
    root.classList.add("cc-open");
    bubble.setAttribute("aria-expanded", "true");
    unread = 0;
    showBadge();
    store.set("open", "1");
    start();
    follow = true;
    toBottom();
    if (focus) input.focus();
  }
  function closeWin() {
    win.hidden = true;
    root.classList.remove("cc-open");
    bubble.setAttribute("aria-expanded", "false");
    store.set("open", null);
    bubble.focus();
  }
  function minimize() {
    const min = win.classList.toggle("cc-min");
    minBtn.setAttribute("aria-label", min ? "Restore chat" : "Minimize chat");
    if (!min) { unread = 0; showBadge(); input.focus(); }
  }
  function trapKeys(e) {
    if (e.key === "Escape") { e.preventDefault(); closeWin(); return; }
    if (e.key !== "Tab") return;
    const items = [...win.querySelectorAll("button, a[href], input, select, textarea, [tabindex]")]
      .filter((x) => !x.disabled && x.tabIndex >= 0 && x.getClientRects().length);
    if (!items.length) return;
    const first = items[0], last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || !win.contains(document.activeElement))) {
      e.preventDefault(); last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault(); first.focus();
    }
  }
  function visible() { return !win.hidden && !win.classList.contains("cc-min"); }
  function showBadge() {
    badge.hidden = !unread;
    badge.textContent = unread > 9 ? "9+" : String(unread);
    bubble.setAttribute("aria-label", `Open the ${cfg.title} chat` + (unread ? ` (${unread} new)` : ""));
  }
  function setConn(state) {
    root.dataset.conn = state;
    connEl.textContent = { connecting: "Connecting…", open: "Online", sse: "Online", offline: "Reconnecting…" }[state];
  }
  function setBusy(b) {
    busy = b;
    root.dataset.busy = b ? "1" : "";
    sendBtn.hidden = b;
    stopBtn.hidden = !b;
  }
  logEl.addEventListener("scroll", () => {
    follow = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 48;
  });
  function toBottom() { if (follow) logEl.scrollTop = logEl.scrollHeight; }
  function announce(text) {
    liveEl.textContent = "";
    setTimeout(() => { liveEl.textContent = text.length > 600 ? text.slice(0, 600) + "…" : text; }, 50);
  }

  // --- Messages in the log --------------------------------------------------------------------
  function greet() {
    logEl.append(el("p", { class: "cc-hint", text: `Hi! I'm the ${cfg.title} assistant. Ask me anything about this site.` }));
  }
  function place(node) {
    const hint = logEl.querySelector(".cc-hint");
    if (hint) hint.remove();
    logEl.insertBefore(node, typingEl && typingEl.parentNode === logEl ? typingEl : null);
    toBottom();
  }
  function addUser(clientId, text, image, serverId) {
    const node = el("div", { class: "cc-msg cc-user", "data-message-id": serverId },
      el("div", { class: "cc-body", text }));
    if (image) {
      const href = typeof image === "string" && safeUrl(image);
      node.append(el("p", { class: "cc-attached" }, href && !href.startsWith("data:") ? link("Attached image", href) : "Image attached"));
    }
    if (clientId) users.set(clientId, node);
    place(node);
    return node;
  }
  function addReply(id, text, status, sources) {
    const body = el("div", { class: "cc-body" });
    const node = el("div", { class: "cc-msg cc-bot", "data-message-id": id, "data-status": status }, body);
    const r = { id, text: text || "", seq: -1, status, node, body, raf: 0 };
    replies.set(id, r);
    place(node);
    draw(r);
    if (sources && sources.length) addSources(r, sources);
    if (status !== "streaming") note(r);
    return r;
  }
  function draw(r) {
    r.body.replaceChildren(r.text ? markdown(r.text) : r.status === "streaming" ? dots() : el("p", { class: "cc-muted", text: "(no answer)" }));
    toBottom();
  }
  const frame = (f) => (document.hidden ? setTimeout(f, 60) : requestAnimationFrame(f));
  function paint(r) {
    if (!r.raf) r.raf = frame(() => { r.raf = 0; draw(r); });
  }
  function dots() {
    return el("span", { class: "cc-dots", role: "img", "aria-label": "The assistant is typing" }, el("i"), el("i"), el("i"));
  }
  function typing(on) {
    if (on && !typingEl) { typingEl = el("div", { class: "cc-msg cc-bot cc-typing" }, dots()); logEl.append(typingEl); toBottom(); }
    if (!on && typingEl) { typingEl.remove(); typingEl = null; }
  }
  const NOTES = { stopped: "Stopped", interrupted: "Interrupted", failed: "Failed" };
  function note(r) {
    const old = r.node.querySelector(".cc-note");
    if (old) old.remove();
    if (NOTES[r.status]) r.node.append(el("p", { class: "cc-note", text: NOTES[r.status] }));
  }
  function addSources(r, items) {
    const old = r.node.querySelector(".cc-sources");
    if (old) old.remove();
    const list = el("ul");
    for (const s of items) list.append(el("li", null, link(s.title || s.url, s.url)));
    r.node.append(el("div", { class: "cc-sources" }, el("span", { text: "Sources" }), list));
    toBottom();
  }
  function addRating(r) {
    for (const old of logEl.querySelectorAll(".cc-rate")) old.remove();
    const box = el("div", { class: "cc-rate", role: "group", "aria-label": "Rate this conversation" },
      el("span", { text: "Was this helpful?" }));
    const stars = el("span", { class: "cc-stars" });
    for (let n = 5; n >= 1; n--) {
      stars.append(el("button", {
        type: "button", "aria-label": `${n} star${n > 1 ? "s" : ""}`, text: "★", "data-score": n,
        onclick: () => { send({ type: "rate", score: n }); box.replaceChildren(el("span", { text: `Thanks for rating ${n}/5.` })); },
      }));
    }
    box.append(stars);
    r.node.append(box);
    toBottom();
  }
  function escalate(f) {
    const c = Object.assign({}, cfg.contact, f.contact || {});
    const intro = typeof f.message === "string" && !/^[0-9a-f-]{36}$/i.test(f.message) ? f.message
      : "It looks like a person could help. You can reach our team:";
    const list = el("ul");
    if (c.email) list.append(el("li", null, "Email: ", link(c.email, "mailto:" + c.email)));
    if (c.phone) list.append(el("li", null, "Phone: ", el("a", { href: "tel:" + c.phone.replace(/[^\d+]/g, ""), text: c.phone })));
    if (c.url && safeUrl(c.url)) list.append(el("li", null, link("Help and contact page", c.url)));
    if (c.hours) list.append(el("li", { text: "Hours: " + c.hours }));
    place(el("div", { class: "cc-escalation", role: "note" }, el("strong", { text: "Talk to a person" }), el("p", { text: intro }), list));
    announce(intro);
  }
  function showUsage(u) {
    if (u && u.usage) u = u.usage;
    if (!u || typeof u.messages_remaining !== "number") { usageEl.hidden = true; return; }
    const total = u.messages_used + u.messages_remaining;
    const n = u.messages_remaining;
    usageEl.textContent = `${n} message${n === 1 ? "" : "s"} left today`;
    usageEl.classList.toggle("cc-warn", total > 0 && u.messages_used / total > 0.8);
    usageEl.hidden = false;
  }
  function showUniverses(list) {
    if (!Array.isArray(list) || list.length < 2) { universeEl.hidden = true; return; }
    const chosen = store.get("universe") || "";
    universeEl.replaceChildren(el("option", { value: "", text: "Any topic" }),
      ...list.map((u) => el("option", { value: u.key, text: u.label || u.key, title: u.intro || null })));
    universeEl.value = list.some((u) => u.key === chosen) ? chosen : "";
    universeEl.hidden = false;
  }
  function showHistory(list) {
    // Questions typed before the connection was ready are not in the history yet: keep them.
    const waiting = [...pending].filter((id) => users.has(id)).map((id) => [id, users.get(id)]);
    logEl.replaceChildren();
    replies.clear();
    users.clear();
    cur = null;
    typingEl = null;
    if (!list.length && !waiting.length) greet();
    for (const m of list) {
      if (m.role === "user") { addUser(null, m.text, m.image_url, m.id); continue; }
      const streaming = m.status === "streaming";
      const r = addReply(m.id, streaming ? "" : m.text, m.status, m.sources);
      if (streaming) { cur = r; setBusy(true); }
    }
    for (const [id, node] of waiting) { users.set(id, node); place(node); }
    if (waiting.length) typing(true);
  }
  function catchUp(list) {
    // After a reconnect: a reply that ended while we were away is shown as stored (its stream
    // may have expired, so its last tokens would never arrive).
    for (const m of list) {
      const r = m.role === "assistant" && m.status !== "streaming" && replies.get(m.id);
      if (r && r.status === "streaming" && m.text.length >= r.text.length) {
        r.text = m.text;
        r.seq = Infinity;
      }
    }
  }
  function showError(text, action, waitSeconds) {
    errText.textContent = text;
    retryAction = action;
    retryBtn.hidden = !action;
    retryBtn.disabled = false;
    if (waitSeconds > 0 && waitSeconds <= 120) {
      retryBtn.disabled = true;
      setTimeout(() => { retryBtn.disabled = false; }, waitSeconds * 1000);
    }
    errorEl.hidden = false;
    toBottom();
  }
  function hideError() { errorEl.hidden = true; retryAction = null; }
  function waitText(s) {
    if (s < 90) return `Try again in ${Math.ceil(s)} s.`;
    if (s < 5400) return `Try again in ${Math.round(s / 60)} min.`;
    return `Try again in about ${Math.round(s / 3600)} h.`;
  }

  // --- Server events (the same objects over the WebSocket and the SSE stream) -----------------
  function handle(f) {
    if (f.session && f.type !== "ready" && !session) { session = f.session; store.set("session", session); }
    switch (f.type) {
      case "ready": return onReady(f);
      case "ack": return onAck(f);
      case "start": return onStart(f);
      case "token": return onToken(f);
      case "sources": { const r = replies.get(f.message); if (r) addSources(r, f.items || []); return; }
      case "done": return onDone(f);
      case "error": return onError(f);
      case "escalation": return escalate(f);
      case "usage": return showUsage(f);
    }
  }
  function onReady(f) {
    const changed = f.session !== session;
    session = f.session;
    store.set("session", session);
    showUniverses(f.universes);
    showUsage(f.usage);
    if (mode === "sse") return; // each SSE answer starts with `ready`: the log is already drawn
    live = everReady = true;
    wsFails = attempt = 0;
    setConn("open");
    if (!shown || changed) { showHistory(f.history || []); shown = true; } else catchUp(f.history || []);
    for (const id of pending) ws.send(JSON.stringify(sent.get(id)));
    for (const fr of outbox.splice(0)) ws.send(JSON.stringify(fr));
    clearInterval(pingTimer);
    pingTimer = setInterval(() => send({ type: "ping" }), 25000);
  }
  function onAck(f) {
    pending.delete(f.id);
    acked.add(f.id);
    const u = users.get(f.id);
    if (u) { u.dataset.messageId = f.message; u.classList.remove("cc-failed"); }
  }
  function onStart(f) {
    typing(false);
    const r = replies.get(f.message) || addReply(f.message, "", "streaming");
    if (r.status !== "streaming") { r.status = "streaming"; r.node.dataset.status = "streaming"; note(r); }
    r.replyTo = f.reply_to;
    cur = r;
    setBusy(true);
  }
  function onToken(f) {
    let r = replies.get(f.message);
    if (!r) { onStart({ message: f.message }); r = cur; }
    if (typeof f.seq === "number") {
      if (f.seq <= r.seq) return; // a replayed token we already have
      r.seq = f.seq;
    }
    r.text += f.text || "";
    typing(false);
    paint(r);
  }
  function onDone(f) {
    const r = replies.get(f.message) || addReply(f.message, "", f.status);
    r.raf = 0; // a frame still scheduled only draws the same text again
    r.status = f.status;
    r.node.dataset.status = f.status;
    draw(r);
    note(r);
    if (cur === r) cur = null;
    stopping = false;
    typing(false);
    setBusy(false);
    if (f.status === "complete") {
      if (mode === "ws") addRating(r);
    } else if ((f.status === "failed" || f.status === "interrupted") && errorEl.hidden) {
      showError("The reply was cut short.", regenerate);
    }
    announce(`${cfg.title} assistant: ${r.body.textContent}`);
    if (!visible()) { unread++; showBadge(); }
  }
  function onError(f) {
    typing(false);
    if (!live && mode === "ws" && (f.code === "not_found" || f.code === "forbidden")) {
      // The stored conversation is gone or not ours: start a new one on this connection.
      session = null;
      store.set("session", null);
      if (ws) ws.send(JSON.stringify(hello()));
      return;
    }
    if (stopping && f.code === "invalid" && !cur) return; // the reply ended before our stop arrived
    if (f.code === "not_found" && cur) onDone({ message: cur.id, status: "interrupted" });
    let text = f.message || "Something went wrong. Please try again.";
    if (f.retry_after != null && (f.code === "rate_limited" || f.code === "quota_exceeded")) text += " " + waitText(f.retry_after);
    const id = f.reply_to;
    let action = null;
    if (id && sent.has(id) && !acked.has(id)) {
      pending.delete(id);
      const u = users.get(id);
      if (u) u.classList.add("cc-failed");
      action = () => transmit(sent.get(id));
    } else if (cur || (id && acked.has(id)) || f.code === "internal" || f.code === "provider_unavailable") {
      action = regenerate;
    }
    if (!cur) setBusy(false);
    root.dataset.error = f.code || "internal";
    showError(text, action, f.code === "rate_limited" ? f.retry_after : 0);
    announce(text);
  }

  // --- Sending ----------------------------------------------------------------------------------
  function submit() {
    const text = input.value.trim();
    if (!text || busy) return;
    const msg = { type: "message", id: uuid(), text };
    if (attached) msg.image = attached.url;
    if (!universeEl.hidden && universeEl.value) msg.universe = universeEl.value;
    input.value = "";
    input.rows = 1;
    setAttached(null);
    addUser(msg.id, text, !!msg.image);
    transmit(msg);
  }
  function transmit(msg) {
    hideError();
    sent.set(msg.id, msg);
    pending.add(msg.id);
    setBusy(true);
    typing(true);
    follow = true;
    toBottom();
    if (mode === "sse") ssePost(msg);
    else if (live) ws.send(JSON.stringify(msg));
    else start();
  }
  function send(f) {
    if (mode === "sse") return;
    if (live && ws) ws.send(JSON.stringify(f));
    else if (f.type !== "ping") outbox.push(f);
  }
  function stop() {
    stopping = true;
    if (mode === "sse") {
      // The stream stays open: the server ends it with `done` (status stopped).
      if (session) fetch(`${cfg.api}sessions/${encodeURIComponent(session)}/stop/`, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } }).catch(() => {});
      return;
    }
    send({ type: "stop" });
  }
  function regenerate() {
    const last = [...replies.values()].pop();
    if (last && last.status !== "complete" && last.status !== "streaming") { last.node.remove(); replies.delete(last.id); }
    if (mode === "sse") {
      setBusy(true);
      typing(true);
      ssePost({ type: "regenerate" });
      return;
    }
    setBusy(true);
    typing(true);
    send({ type: "regenerate" });
  }
  function pickImage() {
    const file = fileIn.files && fileIn.files[0];
    fileIn.value = "";
    if (!file) return;
    if (!IMAGE_TYPES.includes(file.type)) return showError("Attach a PNG, JPEG or WebP image.", null);
    if (file.size > cfg.maxImage) return showError(`The image is over ${Math.round(cfg.maxImage / 1048576)} MB. Attach a smaller one.`, null);
    const reader = new FileReader();
    reader.onload = () => { hideError(); setAttached({ name: file.name, url: reader.result }); input.focus(); };
    reader.readAsDataURL(file);
  }
  function setAttached(a) {
    attached = a;
    chip.hidden = !a;
    chip.replaceChildren();
    if (a) {
      chip.append(el("span", { text: "Image: " + a.name }),
        el("button", { type: "button", class: "cc-unattach", "aria-label": "Remove the image", text: "×", onclick: () => { setAttached(null); input.focus(); } }));
    }
  }

  // --- WebSocket, with reconnection and resume -------------------------------------------------
  function page() {
    const p = { url: location.href, title: document.title, referrer: document.referrer };
    if (D.pageStatus) p.status = +D.pageStatus;
    return p;
  }
  function zone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return undefined; }
  }
  function hello() {
    const f = { type: "hello", session: session || null, page: page(), timezone: zone() };
    if (cur && cur.id) f.resume = { message: cur.id, seq: cur.seq };
    return f;
  }
  function start() {
    if (started) return;
    started = true;
    if (mode === "sse") sseStart();
    else connect();
  }
  function connect() {
    clearTimeout(retryTimer);
    if (ws) return;
    setConn("connecting");
    let sock, ready = false;
    try {
      sock = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + cfg.ws);
    } catch (e) {
      wsFails++;
      return reconnect();
    }
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify(hello()));
    sock.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "ready") ready = true;
      handle(f);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      live = false;
      clearInterval(pingTimer);
      if (!ready) wsFails++;
      reconnect();
    };
  }
  function reconnect() {
    if (!everReady && wsFails >= 2) return sseStart();
    setConn("offline");
    const base = Math.min(30000, 1000 * 2 ** attempt++);
    retryTimer = setTimeout(connect, Math.max(1000, base * (0.5 + Math.random() / 2)));
  }
  window.addEventListener("online", () => { if (mode === "ws" && started && !ws) connect(); });

  // --- SSE fallback: POST /api/chat/stream/, read text/event-stream -------------------------------
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : D.csrfToken || "";
  }
  async function getJson(path) {
    try {
      const res = await fetch(cfg.api + path, { credentials: "same-origin", headers: { Accept: "application/json" } });
      return res.ok ? await res.json() : null;
    } catch (e) { return null; }
  }
  const listOf = (j, key) => (Array.isArray(j) ? j : (j && (j[key] || j.results)) || []);
  async function sseStart() {
    mode = "sse";
    started = true;
    setConn("sse");
    everReady = true;
    const [history, usage, universes] = await Promise.all([
      session ? getJson(`sessions/${encodeURIComponent(session)}/messages/?limit=50`) : null,
      getJson("usage/?tz=" + encodeURIComponent(zone() || "")), getJson("universes/"),
    ]);
    if (!shown) { showHistory(listOf(history, "messages")); shown = true; }
    showUsage(usage);
    showUniverses(listOf(universes, "universes"));
    for (const id of pending) ssePost(sent.get(id));
  }
  async function ssePost(msg, again) {
    const ctl = new AbortController();
    sseCtl = ctl;
    const { type, ...message } = msg;
    const ask = type === "regenerate" ? { regenerate: true } : { message };
    let res;
    try {
      res = await fetch(cfg.sse, {
        method: "POST", credentials: "same-origin", signal: ctl.signal,
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", "X-CSRFToken": csrf() },
        body: JSON.stringify({ session: session || null, ...ask, page: page(), timezone: zone() }),
      });
    } catch (e) {
      return lost(ctl, msg);
    }
    if (!res.ok) {
      let err = {};
      try { err = (await res.json()).error || {}; } catch (e) { /* not JSON */ }
      if (!again && session && (err.code === "not_found" || err.code === "forbidden")) {
        session = null; // the stored conversation is gone or not ours: start a new one
        store.set("session", null);
        return ssePost(msg, true);
      }
      return handle({ type: "error", code: err.code || "internal", message: err.message || `The server answered ${res.status}. Please try again.`, retry_after: err.retry_after, reply_to: msg.id });
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let k;
        while ((k = buf.indexOf("\n\n")) > -1) {
          sseEvent(buf.slice(0, k));
          buf = buf.slice(k + 2);
        }
      }
    } catch (e) {
      return lost(ctl, msg);
    }
    if (sseCtl === ctl) sseCtl = null;
    if (cur || pending.has(msg.id)) lost(ctl, msg);
  }
  function sseEvent(chunk) {
    const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    if (!data) return;
    try { handle(JSON.parse(data)); } catch (e) { /* a malformed event is skipped */ }
  }
  function lost(ctl, msg) {
    if (ctl.signal.aborted) return;
    if (sseCtl === ctl) sseCtl = null;
    const acknowledged = acked.has(msg.id);
    pending.delete(msg.id);
    if (cur) onDone({ message: cur.id, status: "interrupted" });
    hideError();
    onError({ code: "internal", message: "The connection was lost.", reply_to: acknowledged ? null : msg.id });
    if (!acknowledged) retryAction = () => transmit(msg);
  }

  // --- Start: reconnect returning visitors at once, others on first open ------------------------
  setConn("connecting");
  window.Concierge = Object.freeze({ markdown, safeUrl, open: () => openWin(true), close: closeWin });
  // Reopen on the next page, except on phones where the open window would cover it.
  if (store.get("open") === "1" && matchMedia("(min-width: 480px)").matches) openWin(false);
  else if (session) start();
})();
