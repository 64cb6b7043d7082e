/* The window: header, log, messages with their actions and notes (figures, the groundedness
 * verdict, the escalation card), errors, the composer. Draws state; every user action goes to
 * the controller through act(). */
import { el, icon, I, store, t } from "./core.js";
import { S, users, replies, act } from "./state.js";
import { markdown, link, safeUrl } from "./md.js";

export const V = {};
const labels = [];
// Give `node` a translated text or attribute, redone when the language changes.
export function L(node, attr, key, vars) {
  labels.push([node, attr, key, vars]);
  setLabel(node, attr, key, vars);
  return node;
}
function setLabel(node, attr, key, vars) {
  const s = t(key, typeof vars === "function" ? vars() : vars);
  if (attr === "text") node.textContent = s;
  else node.setAttribute(attr, s);
}
export const relabel = () => labels.forEach((x) => setLabel(...x));
const btn = (cls, key, onclick, ico) => L(el("button", { class: cls, onclick }, ico && icon(ico)), ico ? "aria-label" : "text", key);
// A button with a translated text (drawn again with its pane or message, not relabelled).
export const button = (cls, key, onclick) => el("button", { class: cls, text: t(key), onclick });
export const oops = (e) => e.message || t("Something went wrong. Please try again.");

export function build(cfg, root) {
  V.cfg = cfg;
  V.root = root;
  const site = { site: cfg.title };
  V.badge = el("span", { class: "cc-badge", hidden: true, "aria-hidden": "true" });
  V.bubble = el("button", { class: "cc-bubble", "aria-expanded": "false", "aria-controls": "cc-window", onclick: () => act("toggle") }, icon(I.chat), V.badge);
  V.conn = el("span", { class: "cc-conn" });
  V.listBtn = btn("cc-icon cc-list-btn", "Conversations", () => act("pane"), I.list);
  V.gearBtn = btn("cc-icon cc-gear", "Settings", () => act("settings"), I.gear);
  for (const b of [V.listBtn, V.gearBtn]) b.setAttribute("aria-expanded", "false");
  V.minBtn = btn("cc-icon cc-minimize", "Minimize chat", () => act("minimize"), I.min);
  const head = el("div", { class: "cc-head" }, V.listBtn,
    el("div", { class: "cc-head-text" }, el("h2", { id: "cc-title", class: "cc-title", text: cfg.title }), V.conn),
    btn("cc-icon cc-new", "New conversation", () => act("new"), I.plus), V.gearBtn, V.minBtn,
    btn("cc-icon cc-close", "Close chat", () => act("close"), I.close));
  V.usage = el("span", { class: "cc-usage", hidden: true });
  V.universe = L(el("select", { class: "cc-universe", hidden: true, onchange: () => act("universe", V.universe.value) }), "aria-label", "Topic");
  V.intro = el("p", { class: "cc-intro", hidden: true });
  V.log = L(el("div", { class: "cc-log", tabindex: "0", role: "log", "aria-live": "off" }), "aria-label", "Conversation");
  V.live = el("div", { class: "cc-sr", "aria-live": "polite", "aria-atomic": "true" });
  V.errText = el("span", { class: "cc-error-text" });
  V.retry = btn("cc-retry", "Retry", () => { const again = S.retryAction; hideError(); if (again) again(); });
  V.error = el("div", { class: "cc-error", role: "alert", hidden: true }, V.errText, V.retry);
  V.file = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp", class: "cc-file", hidden: true, tabindex: "-1", "aria-hidden": "true", onchange: () => act("image") });
  V.chip = el("div", { class: "cc-chip", hidden: true });
  V.input = L(L(el("textarea", {
    class: "cc-input", rows: "1", maxlength: cfg.maxChars,
    oninput: () => { V.input.rows = Math.min(5, V.input.value.split("\n").length); },
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); act("submit"); } },
  }), "aria-label", "Your message"), "placeholder", "Ask a question…");
  V.attach = btn("cc-icon cc-attach", "Attach an image", () => V.file.click(), I.clip);
  V.attach.hidden = !cfg.seesImages;
  V.send = L(el("button", { type: "submit", class: "cc-icon cc-send" }, icon(I.send)), "aria-label", "Send");
  V.stop = el("button", { class: "cc-stop", hidden: true, onclick: () => act("stop") }, icon(I.stop, "cc-fill"), L(el("span"), "text", "Stop"));
  V.form = el("form", { class: "cc-form", onsubmit: (e) => { e.preventDefault(); act("submit"); } },
    V.chip, el("div", { class: "cc-row" }, V.attach, V.input, V.send, V.stop), V.file);
  V.pane = el("div", { class: "cc-pane", hidden: true });
  V.main = el("div", { class: "cc-main" }, el("div", { class: "cc-bar" }, V.usage, V.universe), V.intro, V.log, V.error, V.form);
  V.win = el("section", { id: "cc-window", class: "cc-window", role: "dialog", "aria-modal": "true", "aria-labelledby": "cc-title", hidden: true, onkeydown: trapKeys },
    head, V.pane, V.main, V.live);
  L(V.bubble, "aria-label", "Open the {site} chat", site);
  root.append(V.win, V.bubble);
  V.log.addEventListener("scroll", () => { S.follow = V.log.scrollHeight - V.log.scrollTop - V.log.clientHeight < 48; });
}

function trapKeys(e) {
  if (e.key === "Escape") { e.preventDefault(); act(V.pane.hidden ? "close" : "pane", false); return; }
  if (e.key !== "Tab") return;
  const items = [...V.win.querySelectorAll("button, a[href], input, select, textarea, [tabindex]")]
    .filter((x) => !x.disabled && x.tabIndex >= 0 && x.getClientRects().length);
  if (!items.length) return;
  const first = items[0], last = items[items.length - 1];
  if (e.shiftKey && (document.activeElement === first || !V.win.contains(document.activeElement))) {
    e.preventDefault(); last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault(); first.focus();
  }
}
export const visible = () => !V.win.hidden && !V.win.classList.contains("cc-min");
export function showBadge() {
  V.badge.hidden = !S.unread;
  V.badge.textContent = S.unread > 9 ? "9+" : String(S.unread);
  V.bubble.setAttribute("aria-label", t("Open the {site} chat", { site: V.cfg.title }) + (S.unread ? " " + t("({n} new)", { n: S.unread }) : ""));
}
const CONN = { connecting: "Connecting…", open: "Online", sse: "Online", offline: "Reconnecting…" };
export function setConn(state) {
  V.root.dataset.conn = state;
  V.conn.textContent = t(CONN[state]);
}
export function setBusy(b) {
  S.busy = b;
  V.root.dataset.busy = b ? "1" : "";
  V.send.hidden = b;
  V.stop.hidden = !b;
}
export function toBottom() { if (S.follow) V.log.scrollTop = V.log.scrollHeight; }
export function announce(text) {
  V.live.textContent = "";
  setTimeout(() => { V.live.textContent = text.length > 600 ? text.slice(0, 600) + "…" : text; }, 50);
}

// --- The empty conversation: greeting, suggested questions, the help center
export function greet(questions) {
  const u = S.universes.find((x) => x.key === V.universe.value);
  const list = el("ul", { class: "cc-suggest" });
  for (const q of questions || []) list.append(el("li", null, el("button", { text: q, onclick: () => act("ask", { text: q }) })));
  const help = safeUrl(V.cfg.helpUrl);
  V.log.append(el("div", { class: "cc-hint" },
    el("p", { class: "cc-hello", text: t("Hi! I'm the {site} assistant. How can I help?", { site: V.cfg.title }) }),
    u && u.intro ? el("p", { text: u.intro }) : null,
    questions && questions.length ? el("p", { class: "cc-muted", text: t("You could ask:") }) : null, list,
    help ? el("a", { class: "cc-help", href: help, text: t("Search the help center") }) : null));
}
export function place(node) {
  const hint = V.log.querySelector(".cc-hint");
  if (hint) hint.remove();
  const typing = S.typingEl && S.typingEl.parentNode === V.log ? S.typingEl : null;
  V.log.insertBefore(node, typing);
  toBottom();
}
const stamp = (iso) => {
  const d = iso ? new Date(iso) : new Date();
  return el("time", { datetime: d.toISOString(), title: d.toLocaleString(), text: d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) });
};

// --- Messages
export function addUser(clientId, text, image, m) {
  m = m || {};
  const node = el("div", { class: "cc-msg cc-user" + (m.pinned ? " cc-pinned" : ""), "data-message-id": m.id }, el("div", { class: "cc-body", text }));
  if (image) {
    const href = typeof image === "string" && safeUrl(image);
    node.append(el("p", { class: "cc-attached" }, href && !href.startsWith("data:") ? link(t("Attached image"), href) : t("Image attached")));
  }
  node.append(el("div", { class: "cc-meta" }, stamp(m.created_at),
    act1("cc-edit", "Edit", () => act("edit", node)), pinBtn(node, m.pinned), act1("cc-del", "Delete", () => act("delete", node))));
  if (clientId) users.set(clientId, node);
  place(node);
  lastMarks();
  return node;
}
const act1 = (cls, key, fn) => button("cc-act " + cls, key, fn);
function pinBtn(node, pinned) {
  const b = act1("cc-pin", pinned ? "Unpin" : "Pin", () => act("pin", node, b));
  b.setAttribute("aria-pressed", String(!!pinned));
  return b;
}
export function addReply(id, text, status, m) {
  m = m || {};
  const body = el("div", { class: "cc-body" });
  const node = el("div", { class: "cc-msg cc-bot" + (m.pinned ? " cc-pinned" : ""), "data-message-id": id, "data-status": status }, body);
  const r = { id, text: text || "", seq: -1, status, node, body, raf: 0, meta: m, verdict: m.verdict };
  replies.set(id, r);
  node.append(el("div", { class: "cc-meta" }, stamp(m.created_at),
    act1("cc-copy", "Copy", () => act("copy", r)), act1("cc-regen", "Regenerate", () => act("regenerate")),
    act1("cc-continue", "Continue", () => act("ask", { text: t("Please continue.") })),
    pinBtn(node, m.pinned), act1("cc-del", "Delete", () => act("delete", node)),
    act1("cc-info", "Details", () => details(r, true))));
  place(node);
  draw(r);
  if (m.sources && m.sources.length) addSources(r, m.sources);
  if (status !== "streaming") note(r);
  lastMarks();
  return r;
}
// Only the last question can be edited and only the last reply regenerated or continued.
export function lastMarks() {
  const bots = V.log.querySelectorAll(".cc-bot:not(.cc-typing)"), qs = V.log.querySelectorAll(".cc-user");
  for (const b of V.log.querySelectorAll(".cc-regen, .cc-continue, .cc-edit")) b.hidden = true;
  const lastBot = bots[bots.length - 1], lastQ = qs[qs.length - 1];
  if (lastBot && lastBot.dataset.status !== "streaming") {
    lastBot.querySelector(".cc-regen").hidden = false;
    lastBot.querySelector(".cc-continue").hidden = lastBot.dataset.status !== "stopped";
  }
  if (lastQ && !S.busy) lastQ.querySelector(".cc-edit").hidden = false;
}
export function draw(r) {
  r.body.replaceChildren(r.text ? markdown(r.text) : r.status === "streaming" ? dots() : el("p", { class: "cc-muted", text: t("(no answer)") }));
  if (r.verdict && r.status !== "streaming") verdict(r);
  toBottom();
}
const frame = (f) => (document.hidden ? setTimeout(f, 60) : requestAnimationFrame(f));
export function paint(r) {
  if (!r.raf) r.raf = frame(() => { r.raf = 0; draw(r); });
}
const dots = () => el("span", { class: "cc-dots", role: "img", "aria-label": t("The assistant is typing") }, el("i"), el("i"), el("i"));
export function typing(on) {
  if (on && !S.typingEl) { S.typingEl = el("div", { class: "cc-msg cc-bot cc-typing" }, dots()); V.log.append(S.typingEl); toBottom(); }
  if (!on && S.typingEl) { S.typingEl.remove(); S.typingEl = null; }
}
const NOTES = { stopped: "Stopped", interrupted: "Interrupted", failed: "Failed" };
export function note(r) {
  const old = r.node.querySelector(".cc-note");
  if (old) old.remove();
  if (NOTES[r.status]) r.node.querySelector(".cc-body").after(el("p", { class: "cc-note", text: t(NOTES[r.status]) }));
}
export function replaceIn(node, cls, box) {
  const old = node.querySelector("." + cls);
  if (old) old.replaceWith(box);
  else node.querySelector(".cc-meta").before(box);
  toBottom();
}
export function addSources(r, items) {
  r.sources = items;
  const list = el("ul");
  for (const s of items) list.append(el("li", null, link(s.title || s.url, s.url)));
  replaceIn(r.node, "cc-sources", el("div", { class: "cc-sources" }, el("span", { text: t("Sources") }), list));
}
export function addRating(r, score) {
  for (const old of V.log.querySelectorAll(".cc-rate")) old.remove();
  const box = el("div", { class: "cc-rate", role: "group", "aria-label": t("Rate this conversation") });
  const thanks = (n) => box.replaceChildren(el("span", { text: t("Thanks for rating {n}/5.", { n }) }));
  if (score) thanks(score);
  else {
    const stars = el("span", { class: "cc-stars" });
    for (let n = 1; n <= 5; n++) {
      stars.append(el("button", { "aria-label": t(["{n} star", "{n} stars"], { n }), text: "★", "data-score": n, onclick: () => { act("rate", n); thanks(n); V.input.focus(); } }));
    }
    box.append(el("span", { text: t("Was this helpful?") }), stars);
  }
  replaceIn(r.node, "cc-rate", box);
}
export function showUsage(u) {
  if (u && u.usage) u = u.usage;
  if (!u || typeof u.messages_remaining !== "number") { V.usage.hidden = true; return; }
  const total = u.messages_used + u.messages_remaining, n = u.messages_remaining;
  V.usage.textContent = t(["{n} message left today", "{n} messages left today"], { n });
  V.usage.classList.toggle("cc-warn", total > 0 && u.messages_used / total > 0.8);
  V.usage.hidden = false;
}
export function showUniverses(list) {
  S.universes = Array.isArray(list) ? list : [];
  if (S.universes.length < 2) { V.universe.hidden = V.intro.hidden = true; return; }
  const chosen = store.get("universe:" + S.session) || "";
  V.universe.replaceChildren(el("option", { value: "", text: t("Any topic") }),
    ...S.universes.map((u) => el("option", { value: u.key, text: u.label || u.key, title: u.intro || null })));
  V.universe.value = S.universes.some((u) => u.key === chosen) ? chosen : "";
  V.universe.hidden = false;
  showIntro();
}
export function showIntro() {
  const u = S.universes.find((x) => x.key === V.universe.value);
  V.intro.textContent = (u && u.intro) || "";
  V.intro.hidden = !u || !u.intro;
}
export function showError(text, action, waitSeconds) {
  V.errText.textContent = text;
  S.retryAction = action;
  V.retry.hidden = !action;
  V.retry.disabled = false;
  if (waitSeconds > 0 && waitSeconds <= 120) {
    V.retry.disabled = true;
    setTimeout(() => { V.retry.disabled = false; }, waitSeconds * 1000);
  }
  V.error.hidden = false;
  toBottom();
}
export function hideError() { V.error.hidden = true; S.retryAction = null; }
export function setAttached(a) {
  S.attached = a;
  V.chip.hidden = !a;
  V.chip.replaceChildren();
  if (a) {
    V.chip.append(el("span", { text: t("Image:") + " " + a.name }),
      el("button", { class: "cc-unattach", "aria-label": t("Remove the image"), text: "×", onclick: () => { setAttached(null); V.input.focus(); } }));
  }
}

// --- What a reply may carry besides its text
// Time to first token, speed and the model that answered, on demand.
export function details(r, toggle) {
  const old = r.node.querySelector(".cc-details");
  if (old && toggle) { old.remove(); return; }
  if (!old && !toggle && !S.details) return;
  const m = r.meta || {}, parts = [];
  if (m.model) parts.push(t("Model: {m}", { m: m.model }));
  if (m.ttft_ms != null) parts.push(t("first word after {n} ms", { n: m.ttft_ms }));
  const gen = (m.total_ms || 0) - (m.ttft_ms || 0);
  if (m.output_tokens && gen > 0) parts.push(t("{n} tokens/s", { n: (m.output_tokens / (gen / 1000)).toFixed(1) }));
  replaceIn(r.node, "cc-details", el("p", { class: "cc-details", text: parts.join(" · ") || t("No figures for this reply.") }));
}
// The groundedness verdict: unsupported sentences marked quietly; for an ungrounded reply, what
// the best source says instead.
export function verdict(r) {
  const v = r.verdict;
  // Once per drawing of the body (a late frame may draw it again, and then it is marked again).
  for (const [a, b] of r.body.querySelector(".cc-unsup") ? [] : v.unsupported || []) {
    const want = r.text.slice(a, b).replace(/\]\([^)]*\)|[*_`#>[\]]/g, "").replace(/\s+/g, " ").trim();
    const at = want ? r.body.textContent.indexOf(want) : -1;
    if (at < 0) continue;
    // The sentence may cross elements (**bold**): find its ends among the text nodes.
    const range = document.createRange(), w = document.createTreeWalker(r.body, NodeFilter.SHOW_TEXT);
    for (let n, pos = 0; (n = w.nextNode()); pos += n.data.length) {
      if (at >= pos && at <= pos + n.data.length) range.setStart(n, at - pos);
      if (at + want.length <= pos + n.data.length) { range.setEnd(n, at + want.length - pos); break; }
    }
    // <mark> is announced as highlighted; the note after the reply says what the marks mean.
    const mark = el("mark", { class: "cc-unsup", title: t("Not found in our help center") });
    mark.append(range.extractContents());
    range.insertNode(mark);
  }
  const best = v.best || (r.sources || [])[0];
  const box = v.grounded === "ungrounded"
    ? el("div", { class: "cc-verdict" }, el("p", { text: t("This answer was not found in our help center.") }),
      best ? el("p", null, t("What our help center says:") + " ", best.text ? best.text + " " : "", link(best.title || best.url, best.url)) : null)
    : v.unsupported && v.unsupported.length ? el("p", { class: "cc-verdict", text: t("Parts of this answer were not found in our help center.") }) : null;
  if (box) replaceIn(r.node, "cc-verdict", box);
}
export function escalate(f, quiet) {
  const c = Object.assign({}, V.cfg.contact, f.contact || {});
  const intro = typeof f.message === "string" && !/^[0-9a-f-]{36}$/i.test(f.message) ? f.message : t("It looks like a person could help. You can reach our team:");
  const list = el("ul");
  if (c.email) list.append(el("li", null, t("Email:") + " ", link(c.email, "mailto:" + c.email)));
  if (c.phone) list.append(el("li", null, t("Phone:") + " ", el("a", { href: "tel:" + c.phone.replace(/[^\d+]/g, ""), text: c.phone })));
  if (c.url && safeUrl(c.url)) list.append(el("li", null, link(t("Help and contact page"), c.url)));
  if (c.hours) list.append(el("li", { text: t("Hours:") + " " + c.hours }));
  for (const old of V.log.querySelectorAll(".cc-escalation")) old.remove();
  place(el("div", { class: "cc-escalation", role: "note" }, el("strong", { text: t("Talk to a person") }), el("p", { text: intro }), list));
  if (!quiet) announce(intro);
}
