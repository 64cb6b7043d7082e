/* Two transports behind one interface: {kind, start(), send(frame) -> bool, restart()}.
 * Both hand every server event to onFrame, the same objects in the same order (PROTOCOL.md).
 * - WebSocket: reconnects with exponential backoff and jitter; the backoff resets only after a
 *   connection stayed up for a while (a server that drops each frame must not be hammered).
 * - SSE fallback: each question is a POST to the stream endpoint; hello, history and stop go
 *   through REST. */
import { get, csrf, url } from "./api.js";

export function wsTransport(o) {
  let ws = null, live = false, everReady = false, fails = 0, attempt = 0, retry = 0, ping = 0, calm = 0;
  const T = { kind: "ws", get live() { return live; }, start: connect, send, restart };
  function connect() {
    clearTimeout(retry);
    if (ws) return;
    o.onState("connecting");
    let sock, ready = false;
    try {
      sock = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + o.path);
    } catch (e) {
      fails++;
      return reconnect();
    }
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify(o.hello()));
    sock.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "ready" && !ready) {
        ready = live = everReady = true;
        fails = 0;
        o.onState("open");
        clearTimeout(calm);
        calm = setTimeout(() => { attempt = 0; }, 10000);
        clearInterval(ping);
        ping = setInterval(() => send({ type: "ping" }), 25000);
      }
      o.onFrame(f);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      live = false;
      clearInterval(ping);
      clearTimeout(calm);
      if (!ready) fails++;
      o.onDrop(ev.code);
      reconnect();
    };
  }
  function reconnect() {
    if (!everReady && fails >= 2) return o.onFallback();
    o.onState("offline");
    const wait = Math.min(30000, 1000 * 2 ** attempt++);
    retry = setTimeout(connect, Math.max(1000, wait * (0.5 + Math.random() / 2)));
  }
  function send(f) {
    if (!ws || ws.readyState !== 1 || (!live && f.type !== "hello")) return false;
    ws.send(JSON.stringify(f));
    return true;
  }
  function restart() {
    const s = ws;
    ws = null;
    live = false;
    if (s) s.close();
    connect();
  }
  window.addEventListener("online", () => { if (T.started && !ws) connect(); });
  return T;
}

export function sseTransport(o) {
  let ctl = null;
  const T = { kind: "sse", live: true, start: () => { o.onState("sse"); hello(); }, send, restart: () => hello() };
  function send(f) {
    if (f.type === "hello") hello();
    else if (f.type === "stop") {
      // The stream stays open: the server ends it with `done` (status stopped).
      const s = o.session();
      if (s) fetch(url(`sessions/${encodeURIComponent(s)}/stop/`), { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } }).catch(() => {});
    } else if (f.type === "message" || f.type === "regenerate") post(f);
    return true;
  }
  async function hello() {
    const s = o.session();
    const [history, usage, universes] = await Promise.all([
      s ? get(`sessions/${encodeURIComponent(s)}/messages/?limit=50`) : null,
      get("usage/?tz=" + encodeURIComponent(o.zone() || "")), get("universes/"),
    ]);
    o.onFrame({ type: "ready", session: s, history: (history && history.messages) || [], universes: (universes && universes.universes) || [], usage, synthetic: true });
  }
  async function post(msg, again) {
    const c = (ctl = new AbortController());
    const { type, ...message } = msg;
    const ask = type === "regenerate" ? { regenerate: true } : { message };
    let res;
    try {
      res = await fetch(o.path, {
        method: "POST", credentials: "same-origin", signal: c.signal,
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", "X-CSRFToken": csrf() },
        body: JSON.stringify({ session: o.session() || null, ...ask, ...o.extra() }),
      });
    } catch (e) {
      return lost(c, msg);
    }
    if (!res.ok) {
      let err = {};
      try { err = (await res.json()).error || {}; } catch (e) { /* not JSON */ }
      if (!again && o.session() && (err.code === "not_found" || err.code === "forbidden")) {
        o.onGone(); // the stored conversation is gone or not ours: start a new one
        return post(msg, true);
      }
      return o.onFrame({ type: "error", code: err.code || "internal", message: err.message || "", retry_after: err.retry_after, reply_to: msg.id });
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
          event(buf.slice(0, k));
          buf = buf.slice(k + 2);
        }
      }
    } catch (e) {
      return lost(c, msg);
    }
    if (ctl === c) ctl = null;
    if (o.unfinished(msg)) lost(c, msg);
  }
  function event(chunk) {
    const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    if (!data) return;
    try { o.onFrame(JSON.parse(data)); } catch (e) { /* a malformed event is skipped */ }
  }
  function lost(c, msg) {
    if (c.signal.aborted) return;
    if (ctl === c) ctl = null;
    o.onLost(msg);
  }
  return T;
}
