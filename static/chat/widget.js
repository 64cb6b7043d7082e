/* Concierge chat widget: the controller (PROTOCOL.md). Its rooms: static/chat/README.md. */
import { el, store, uuid, setup, call, get, t, lang, load } from "./core.js";
import { S, sent, users, replies, pending, acked, outbox, on } from "./state.js";
import { markdown, safeUrl } from "./md.js";
import { wsTransport } from "./transport.js";
import * as v from "./view.js";

// The panes (conversations, settings) load on first use: most visitors never open them.
let pane = null;
const paneOpen = () => pane && pane.paneOpen();
async function paneToggle(which, force) {
  pane = pane || (await import("./pane.js"));
  pane.paneToggle(which, force);
}

const V = v.V;
const root = document.getElementById("concierge");
const D = root ? root.dataset : {};
const list = (s) => (s || "").split(",").filter(Boolean);
const cfg = {
  ws: D.wsPath || "/ws/chat/", sse: D.ssePath || "/api/chat/stream/", api: D.apiPath || "/api/chat/",
  title: D.siteName || "Concierge", maxImage: +D.maxImageBytes || 5242880, maxFrame: +D.maxFrameBytes || 1048576,
  maxChars: D.maxChars || "4000", seesImages: D.seesImages === "true", helpUrl: D.helpUrl || "/help/",
  models: list(D.models), options: list(D.options),
  contact: { email: D.supportEmail, phone: D.supportPhone, url: D.supportUrl, hours: D.supportHours },
};
let T = null, started = false, suggestions = null;
const tries = new Map(); // client id -> how many sockets a question was sent on
const foreign = new Set(); // replies of a conversation left while they streamed: never drawn

function page() {
  const p = { url: location.href, title: document.title, referrer: document.referrer };
  if (D.pageStatus) p.status = +D.pageStatus;
  return p;
}
function zone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return undefined; }
}
function hello() {
  const f = { type: "hello", session: S.session || null, page: page(), timezone: zone(), language: lang };
  if (S.cur && S.cur.id) f.resume = { message: S.cur.id, seq: S.cur.seq };
  return f;
}
function setSession(id) {
  // A topic chosen before the conversation existed (it starts with its first question) is its.
  if (!S.session && id && store.get("universe:null")) { store.set("universe:" + id, store.get("universe:null")); store.set("universe:null", null); }
  S.session = id || null;
  store.set("session", S.session);
}

// --- Opening, closing
function shown(open) {
  V.win.hidden = !open;
  root.classList.toggle("cc-open", open);
  V.bubble.setAttribute("aria-expanded", open);
  store.set("open", open ? "1" : null);
}
function openWin(focus) {
  shown(true);
  V.win.classList.remove("cc-min");
  S.unread = 0;
  v.showBadge();
  start();
  S.follow = true;
  v.toBottom();
  if (focus) V.input.focus();
}
function closeWin() {
  shown(false);
  V.bubble.focus();
}
function minimize() {
  const min = V.win.classList.toggle("cc-min");
  V.minBtn.setAttribute("aria-label", t(min ? "Restore chat" : "Minimize chat"));
  if (!min) { S.unread = 0; v.showBadge(); V.input.focus(); }
}

// --- History
function showHistory(items) {
  // Questions typed before the connection was ready are not in the history yet: keep them.
  const waiting = [...pending].filter((id) => users.has(id)).map((id) => [id, users.get(id)]);
  clearLog();
  S.typingEl = null;
  if (!items.length && !waiting.length) greet();
  for (const m of items) {
    if (m.role === "user") { v.addUser(null, m.text, m.image_url, m); continue; }
    const streaming = m.status === "streaming";
    const r = v.addReply(m.id, streaming ? "" : m.text, m.status, m);
    if (streaming) { S.cur = r; v.setBusy(true); }
  }
  for (const [id, node] of waiting) { users.set(id, node); v.place(node); }
  if (waiting.length) v.typing(true);
  if (items.length) replayConversation(S.session);
  v.lastMarks();
  if (S.details) for (const r of replies.values()) v.details(r);
}
function clearLog() {
  V.log.replaceChildren();
  replies.clear();
  users.clear();
  S.cur = null;
}
async function greet() {
  v.greet(suggestions || []);
  if (suggestions) return;
  const data = await get("suggestions/");
  suggestions = (data && data.questions) || [];
  const hint = V.log.querySelector(".cc-hint");
  if (hint && suggestions.length) { hint.remove(); v.greet(suggestions); }
}
// The rating and the escalation card come back with the history (they are on the conversation).
async function replayConversation(id) {
  const c = await get(`sessions/${encodeURIComponent(id)}/`);
  const last = [...replies.values()].pop();
  if (!c || id !== S.session || !last) return;
  if (c.escalated && !V.log.querySelector(".cc-escalation")) v.escalate({}, true);
  if (T.kind === "ws" && (c.rating || last.status === "complete")) v.addRating(last, c.rating);
}
function catchUp(items) {
  // After a reconnect: a reply that ended while we were away is shown as stored (its stream
  // may have expired, so its last tokens would never arrive).
  for (const m of items) {
    const r = m.role === "assistant" && m.status !== "streaming" && replies.get(m.id);
    if (r && r.status === "streaming" && m.text.length >= r.text.length) {
      r.text = m.text;
      r.seq = Infinity;
    }
  }
}
function reload() {
  S.shown = false;
  T.send(hello()) || T.restart();
}

// --- Server events (the same objects over the WebSocket and the SSE stream)
function handle(f) {
  if (f.session && f.type !== "ready" && !S.session) setSession(f.session);
  if (f.message && foreign.has(f.message)) return;
  switch (f.type) {
    case "ready": return onReady(f);
    case "ack": return onAck(f);
    case "start": return onStart(f);
    case "token": return onToken(f);
    case "sources": { const r = replies.get(f.message); if (r) v.addSources(r, f.items || []); return; }
    case "verdict": { const r = replies.get(f.message); if (r) { r.verdict = f; if (r.status !== "streaming") v.draw(r); } return; }
    case "done": return onDone(f);
    case "error": return onError(f);
    case "escalation": return v.escalate(f);
    case "usage": return v.showUsage(f);
  }
}
function onReady(f) {
  const changed = f.session !== S.session;
  setSession(f.session);
  v.showUniverses(f.universes);
  v.showUsage(f.usage);
  if (T.kind === "sse" && !f.synthetic) return; // each SSE answer starts with `ready`: the log is drawn
  if (!S.shown || changed) { showHistory(f.history || []); S.shown = true; } else catchUp(f.history || []);
  for (const id of pending) transmitAgain(sent.get(id));
  for (const fr of outbox.splice(0)) T.send(fr);
}
// A question not acknowledged is sent again on a new connection once; a frame the server may
// have refused (the socket dropped right after it) is never re-sent by itself: Retry is offered.
function transmitAgain(msg) {
  const n = tries.get(msg.id) || 0;
  if (n >= 2) return refuse(msg.id, t("The connection dropped while sending this message."));
  tries.set(msg.id, n + 1);
  T.send(msg);
}
function onAck(f) {
  pending.delete(f.id);
  acked.add(f.id);
  const u = users.get(f.id);
  if (u) { u.dataset.messageId = f.message; u.classList.remove("cc-failed"); }
}
function onStart(f) {
  v.typing(false);
  const r = replies.get(f.message) || v.addReply(f.message, "", "streaming");
  if (r.status !== "streaming") { r.status = r.node.dataset.status = "streaming"; v.note(r); }
  r.replyTo = f.reply_to;
  S.cur = r;
  v.setBusy(true);
  v.lastMarks();
}
function onToken(f) {
  let r = replies.get(f.message);
  if (!r) { onStart({ message: f.message }); r = S.cur; }
  if (typeof f.seq === "number") {
    if (f.seq <= r.seq) return; // a replayed token we already have
    r.seq = f.seq;
  }
  r.text += f.text || "";
  v.typing(false);
  v.paint(r);
}
function onDone(f) {
  const r = replies.get(f.message) || v.addReply(f.message, "", f.status);
  r.raf = 0; // a frame still scheduled only draws the same text again
  r.status = r.node.dataset.status = f.status;
  Object.assign(r.meta, { ttft_ms: f.ttft_ms, total_ms: f.total_ms, output_tokens: f.usage && f.usage.output_tokens, model: f.model || r.meta.model });
  v.draw(r);
  v.note(r);
  if (S.cur === r) S.cur = null;
  S.stopping = false;
  v.typing(false);
  v.setBusy(false);
  v.lastMarks();
  if (S.details) v.details(r);
  if (f.status === "complete") {
    if (T.kind === "ws") v.addRating(r);
  } else if ((f.status === "failed" || f.status === "interrupted") && V.error.hidden) {
    v.showError(t("The reply was cut short."), regenerate);
  }
  v.announce(t("{site} assistant:", { site: cfg.title }) + " " + r.body.textContent);
  if (!v.visible()) { S.unread++; v.showBadge(); }
  if (V.fillList && paneOpen() === "list") setTimeout(V.fillList, 1500); // a title may be on its way
}
function waitText(s) {
  if (s < 90) return t("Try again in {n} s.", { n: Math.ceil(s) });
  if (s < 5400) return t("Try again in {n} min.", { n: Math.round(s / 60) });
  return t("Try again in about {n} h.", { n: Math.round(s / 3600) });
}
function onError(f) {
  v.typing(false);
  if (T.kind === "ws" && !S.shown && (f.code === "not_found" || f.code === "forbidden")) {
    setSession(null); // the stored conversation is gone or not ours: start a new one
    T.send(hello());
    return;
  }
  if (S.stopping && f.code === "invalid" && !S.cur) return; // the reply ended before our stop arrived
  if (f.code === "not_found" && S.cur) onDone({ message: S.cur.id, status: "interrupted" });
  let text = v.oops(f);
  if (f.retry_after != null && (f.code === "rate_limited" || f.code === "quota_exceeded")) text += " " + waitText(f.retry_after);
  const id = f.reply_to;
  let action = null;
  if (id && sent.has(id) && !acked.has(id)) {
    refuse(id);
    action = () => transmit(sent.get(id));
  } else if (S.cur || (id && acked.has(id)) || f.code === "internal" || f.code === "provider_unavailable") {
    action = regenerate;
  }
  if (!S.cur) v.setBusy(false);
  root.dataset.error = f.code || "internal";
  v.showError(text, action, f.code === "rate_limited" ? f.retry_after : 0);
  v.announce(text);
}
function refuse(id, text) {
  pending.delete(id);
  const u = users.get(id);
  if (u) u.classList.add("cc-failed");
  if (text) {
    v.typing(false);
    v.setBusy(false);
    v.showError(text, () => transmit(sent.get(id)));
  }
}

// --- Sending
async function submit(text, extra) {
  text = (text == null ? V.input.value : text).trim();
  if (!text || S.busy) return;
  const msg = Object.assign({ type: "message", id: uuid(), text }, extra);
  if (S.attached && !msg.image) msg.image = S.attached.url;
  if (!msg.universe && !V.universe.hidden && V.universe.value) msg.universe = V.universe.value;
  if (JSON.stringify(msg).length > cfg.maxFrame) return v.showError(t("This message is too large to send. Attach a smaller image."), null);
  V.input.value = "";
  V.input.rows = 1;
  v.setAttached(null);
  if (S.editing) {
    const node = S.editing;
    S.editing = null;
    await removeMessage(node, true);
    while (node.nextSibling) node.nextSibling.remove();
    node.remove();
    replies.forEach((r, id) => { if (!r.node.isConnected) replies.delete(id); });
  }
  v.addUser(msg.id, text, !!msg.image);
  transmit(msg);
}
function transmit(msg) {
  v.hideError();
  sent.set(msg.id, msg);
  pending.add(msg.id);
  tries.set(msg.id, 0);
  v.setBusy(true);
  v.typing(true);
  S.follow = true;
  v.toBottom();
  if (T.kind === "sse") T.send(msg);
  else if (T.live) { tries.set(msg.id, 1); T.send(msg); } else start();
}
function send(f) {
  if (!T.send(f) && f.type !== "ping") outbox.push(f);
}
function stop() {
  S.stopping = true;
  send({ type: "stop" });
}
function regenerate() {
  const last = [...replies.values()].pop();
  if (last && last.status !== "complete" && last.status !== "streaming") { last.node.remove(); replies.delete(last.id); }
  v.setBusy(true);
  v.typing(true);
  send({ type: "regenerate" });
}
// --- Images: checked, and shrunk in the browser (a canvas) to what vision models use, so that
// ordinary photos fit the server's frame limit.
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];
const LONG_SIDE = 1568; // the long side vision models work at
const IMAGE_BUDGET = 700000; // characters of data URL a shrunk photo aims under

function readImage(blob) {
  return new Promise((ok) => { const r = new FileReader(); r.onload = () => ok(r.result); r.readAsDataURL(blob); });
}
// Shrink an image to LONG_SIDE on its long side (JPEG for photos); small images go as they are.
async function shrink(file) {
  let bmp;
  try { bmp = await createImageBitmap(file); } catch (e) { return readImage(file); }
  const scale = Math.min(1, LONG_SIDE / Math.max(bmp.width, bmp.height));
  if (scale === 1 && file.size < 1048576) return readImage(file);
  const c = el("canvas", { width: Math.round(bmp.width * scale), height: Math.round(bmp.height * scale) });
  c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
  let url = "";
  for (const q of [0.85, 0.7, 0.55, 0.4]) if ((url = c.toDataURL("image/jpeg", q)).length < IMAGE_BUDGET) break;
  return url;
}
// The picked file as {name, url} (a data URL), or null after showing why it cannot be sent.
async function imagePick(input, cfg) {
  const file = input.files && input.files[0];
  input.value = "";
  if (!file) return null;
  if (!IMAGE_TYPES.includes(file.type)) return v.showError(t("Attach a PNG, JPEG or WebP image."), null);
  const url = await shrink(file);
  if (url.length * 0.75 > cfg.maxImage) return v.showError(t("The image is over {n} MB. Attach a smaller one.", { n: Math.round(cfg.maxImage / 1048576) }), null);
  return { name: file.name, url };
}
async function pickImage() {
  const url = await imagePick(V.file, cfg);
  if (url) { v.hideError(); v.setAttached(url); V.input.focus(); }
}

// --- Message actions: delete, edit the last question, pin, print the conversation
async function removeMessage(node, quiet) {
  const id = node.dataset.messageId;
  if (!id) return;
  try {
    await call(`messages/${id}/`, "DELETE");
    if (!quiet) { v.announce(t("Message deleted.")); reload(); }
  } catch (e) { v.showError(v.oops(e), null); }
}
function edit(node) {
  V.input.value = node.querySelector(".cc-body").textContent;
  S.editing = node;
  V.input.focus();
}
async function pin(node, b) {
  const on = !node.classList.contains("cc-pinned");
  try {
    await call(`messages/${node.dataset.messageId}/`, "PATCH", { pinned: on });
    node.classList.toggle("cc-pinned", on);
    b.textContent = t(on ? "Unpin" : "Pin");
    b.setAttribute("aria-pressed", String(on));
  } catch (e) { v.showError(v.oops(e), null); }
}
function print() {
  document.documentElement.classList.add("cc-printing");
  setTimeout(() => { window.print(); document.documentElement.classList.remove("cc-printing"); }, 50);
}
function openConversation(id, forget) {
  if (forget !== true && id === S.session && S.shown) return;
  const streaming = !!S.cur;
  if (S.cur) foreign.add(S.cur.id);
  clearLog();
  setSession(id);
  S.shown = false;
  v.setBusy(false);
  v.hideError();
  // A reply still streaming belongs to the old conversation: a new socket never mixes them.
  if (T.kind === "ws" && started) (streaming ? T.restart() : T.send(hello()) || T.restart());
  else if (started) T.send(hello());
  else start();
  if (!id) greet();
  v.announce(id ? t("Conversation opened.") : t("New conversation"));
}
function setTheme(theme) {
  store.set("theme", theme === "system" ? null : theme);
  root.dataset.theme = theme || "system";
}
async function setLanguage(code) {
  store.set("lang", code);
  await load(cfg.i18n, code);
  v.relabel();
  V.root.setAttribute("lang", lang);
  v.setConn(V.root.dataset.conn);
  paneToggle("settings", true);
  reload();
}
// --- Start
async function transport(kind) {
  const common = { onFrame: handle, onState: v.setConn, session: () => S.session, zone };
  if (kind === "sse") {
    const { sseTransport } = await import("./sse.js");
    return sseTransport(Object.assign(common, {
      path: cfg.sse, extra: () => ({ page: page(), timezone: zone(), language: lang }),
      onGone: () => setSession(null), unfinished: (msg) => S.cur || pending.has(msg.id), onLost: lost,
    }));
  }
  return wsTransport(Object.assign(common, { path: cfg.ws, hello, onFallback: () => useSse(), onDrop: dropped }));
}
async function useSse() {
  T = await transport("sse");
  T.started = true;
  T.start();
}
function dropped(code) {
  // A socket that closed (1009: too big; 1006: cut) with a large question on it unanswered: the
  // server may have refused that frame, so it is never sent again by itself.
  for (const id of [...pending]) {
    const big = JSON.stringify(sent.get(id)).length > 262144;
    if (tries.get(id) && (code === 1009 || big)) refuse(id, t("This message is too large to send. Attach a smaller image."));
  }
}
function lost(msg) {
  const acknowledged = acked.has(msg.id);
  pending.delete(msg.id);
  if (S.cur) onDone({ message: S.cur.id, status: "interrupted" });
  v.hideError();
  onError({ code: "internal", message: t("The connection was lost."), reply_to: acknowledged ? null : msg.id });
  if (!acknowledged) S.retryAction = () => transmit(msg);
}
function start() {
  if (started) return;
  started = T.started = true;
  T.start();
}
// Open the widget and ask: `text`, with an optional `context` object, `image` (data URL) and
// `universe` (telemetry's "Ask AI about this chart" uses it). Resolves when the question is sent.
async function ask(o) {
  const { text, context, image, universe } = o || {};
  openWin(true);
  if (paneOpen()) paneToggle("", false);
  const extra = {};
  if (context && typeof context === "object") extra.context = context;
  if (typeof image === "string" && /^data:image\/(png|jpeg|webp);/.test(image)) extra.image = image;
  if (typeof universe === "string" && universe) extra.universe = universe;
  if (S.busy) return false;
  await submit(String(text || ""), extra);
  return true;
}

async function mount() {
  if (!root || root.dataset.mounted) return;
  root.dataset.mounted = "1";
  cfg.i18n = D.i18nPath || "/static/chat/i18n/";
  setup(cfg.api, D.csrfToken || "");
  await load(cfg.i18n, store.get("lang") || document.documentElement.lang);
  // The transport first (SSE's module loads on demand): from the moment the bubble is on the
  // page its click has a handler, which a click during that load used to miss.
  T = await transport(D.forceSse === "true" || store.get("forceSSE") === "1" ? "sse" : "ws");
  root.setAttribute("lang", lang);
  setTheme(store.get("theme") || "system");
  S.details = store.get("details") === "1";
  v.build(cfg, root);
  v.showBadge();
  setSession(store.get("session"));
  on("toggle", () => (V.win.hidden ? openWin(true) : closeWin()));
  on("close", closeWin);
  on("minimize", minimize);
  on("submit", () => submit());
  on("ask", (o) => submit(o.text));
  on("stop", stop);
  on("regenerate", regenerate);
  on("rate", (score) => send({ type: "rate", score }));
  on("image", pickImage);
  on("universe", (key) => { store.set("universe:" + S.session, key || null); v.showIntro(); });
  on("pane", (force) => paneToggle("list", force));
  on("settings", () => paneToggle("settings"));
  on("new", (quiet) => { store.set("universe:null", null); openConversation(null, quiet); });
  on("open", (id) => openConversation(id));
  on("delete", removeMessage);
  on("edit", edit);
  on("pin", pin);
  on("copy", (r) => navigator.clipboard && navigator.clipboard.writeText(r.text).then(() => v.announce(t("Copied.")), () => {}));
  on("theme", setTheme);
  on("language", setLanguage);
  on("details", (yes) => { S.details = yes; store.set("details", yes ? "1" : null); for (const r of replies.values()) { const d = r.node.querySelector(".cc-details"); if (d && !yes) d.remove(); else if (yes) v.details(r); } });
  on("print", () => { if (paneOpen()) paneToggle("", false); print(); });
  v.setConn("connecting");
  window.Concierge = Object.freeze({ markdown, safeUrl, ask, open: () => openWin(true), close: closeWin });
  window.dispatchEvent(new CustomEvent("concierge:ready"));
  // Reopen on the next page, except on phones where the open window would cover it.
  if (store.get("open") === "1" && matchMedia("(min-width: 480px)").matches) openWin(false);
  else if (S.session) start();
}
mount();
