// The admin index's health panel: fills itself from the staff-only health endpoint (text only).
(function () {
  "use strict";
  const panel = document.getElementById("operator-health");
  if (!panel) return;
  const slot = (name) => panel.querySelector(`[data-slot="${name}"]`);

  function put(name, text, state) {
    const cell = slot(name);
    cell.textContent = text;
    if (state) cell.dataset.state = state;
  }

  function fill(data) {
    const p = data.provider;
    if (p.reachable) {
      put("provider", `${p.name}: reachable, ${p.models_available} model(s)`, "ok");
    } else {
      put("provider", `${p.name}: unreachable — ${p.detail || "no answer"}`, "error");
    }
    const listed = p.reachable && p.model_listed === false ? " (not listed by the server)" : "";
    put("model", `${p.model}${data.base_url ? " at " + data.base_url : ""}${listed}`, listed ? "warn" : "ok");
    const breakers = Object.entries(data.breakers);
    const open = breakers.filter(([, b]) => b.state !== "closed");
    put("breakers", breakers.length === 0 ? "no calls yet in this process"
      : breakers.map(([name, b]) => `${name}: ${b.state}${b.state === "open" ? ` (retry in ${b.retry_in} s)` : ""}`).join(", "),
      open.length ? "error" : "ok");
    const r = data.redis;
    put("redis", !r.configured ? "not configured (in-process state)" : r.available ? "available" : "unavailable",
      r.configured && !r.available ? "error" : "ok");
    const u = data.usage;
    put("usage", `${u.messages} messages, ${u.input_tokens} input and ${u.output_tokens} output tokens; ` +
      `${u.replies} replies (${u.replies_failed} failed, ${u.replies_cached} cached); ` +
      `${u.conversations_started} new conversations`);
  }

  fetch(panel.dataset.url, { credentials: "same-origin" })
    .then((response) => response.json())
    .then(fill)
    .catch((error) => put("provider", `health unavailable: ${error.message}`, "error"));
})();
