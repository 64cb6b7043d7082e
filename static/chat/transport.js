/* The WebSocket transport; sse.js has the same interface: {kind, start, send, restart}. */

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
