/* The SSE fallback transport (same interface as transport.js): each question is a POST to the
 * stream endpoint; hello (history, usage, universes) and stop go through REST. */
import { call, get, csrf } from "./core.js";

export function sseTransport(o) {
  let ctl = null;
  const T = { kind: "sse", live: true, start: () => { o.onState("sse"); hello(); }, send, restart: () => hello() };
  function send(f) {
    if (f.type === "hello") hello();
    else if (f.type === "stop") {
      // The stream stays open: the server ends it with `done` (status stopped).
      const s = o.session();
      if (s) call(`sessions/${encodeURIComponent(s)}/stop/`, "POST").catch(() => {});
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
