/* The conversations pane (list, search, rename, pin, delete with undo, new) and the settings
 * pane (theme, language, reply details, model and options where the operator allows them,
 * export). Both take the window's place while open. */
import { el, store, call, get, url, t, LANGS, lang } from "./core.js";
import { S, act } from "./state.js";
import { V, announce, button, oops } from "./view.js";

let mode = "", query = "", undo = null, timer = 0;

export function paneToggle(which, force) {
  const open = force === false ? false : force === true || mode !== which;
  mode = open ? which : "";
  V.pane.hidden = !open;
  V.main.hidden = open;
  V.listBtn.setAttribute("aria-expanded", mode === "list");
  V.gearBtn.setAttribute("aria-expanded", mode === "settings");
  if (!open) V.input.focus();
  else if (which === "list") drawList();
  else drawSettings();
}
export const paneOpen = () => mode;
const title = (text) => el("h3", { class: "cc-pane-title", text });

// --- Conversations
async function drawList() {
  const label = t("Search conversations");
  const search = el("input", { type: "search", class: "cc-search", value: query, "aria-label": label, placeholder: label, oninput: () => { query = search.value; clearTimeout(timer); timer = setTimeout(fill, 250); } });
  const list = el("ul", { class: "cc-convs", "aria-label": t("Conversations") });
  V.undo = el("div", { class: "cc-undo", role: "status" });
  V.pane.replaceChildren(title(t("Conversations")),
    el("div", { class: "cc-pane-head" }, search, button("cc-btn", "New conversation", () => { paneToggle("list", false); act("new"); })),
    list, V.undo);
  drawUndo();
  search.focus();
  async function fill() {
    const data = await get("sessions/" + (query ? "?q=" + encodeURIComponent(query) : ""));
    // Conversations without a message yet are placeholders (a socket's hello makes one): not listed.
    const items = ((data && data.sessions) || []).filter((c) => c.message_count && (!undo || c.id !== undo.id));
    list.replaceChildren(...items.map(item));
    if (!items.length) list.append(el("li", { class: "cc-muted", text: t(query ? "No conversation matches." : "No conversations yet.") }));
  }
  V.fillList = fill;
  await fill();
}
function item(c) {
  const name = c.title || t("New conversation");
  const open = el("button", { class: "cc-conv-open", "aria-current": c.id === S.session && "true", onclick: () => { paneToggle("list", false); act("open", c.id); } },
    el("span", { class: "cc-conv-title", text: name }),
    el("time", { datetime: c.updated_at, text: new Date(c.updated_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) }));
  const li = el("li", { class: "cc-conv" + (c.pinned ? " cc-pinned" : ""), "data-id": c.id }, open,
    button("cc-act", "Rename", () => rename(li, c)),
    el("button", { class: "cc-act", text: t(c.pinned ? "Unpin" : "Pin"), "aria-pressed": !!c.pinned + "", onclick: () => save(c, { pinned: !c.pinned }) }),
    el("button", { class: "cc-act", text: t("Delete"), "aria-label": t("Delete “{t}”", { t: name }), onclick: () => remove(li, c) }));
  return li;
}
async function save(c, body) {
  try { await call(`sessions/${c.id}/`, "PATCH", body); } catch (e) { announce(oops(e)); }
  V.fillList();
}
function rename(li, c) {
  const input = el("input", { class: "cc-rename", value: c.title, "aria-label": t("New title"), maxlength: "200",
    onkeydown: (e) => {
      if (e.key === "Enter") { e.preventDefault(); save(c, { title: input.value }); }
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); V.fillList(); }
    } });
  li.replaceChildren(input, button("cc-act", "Save", () => save(c, { title: input.value })));
  input.focus();
}
// Delete after a few seconds, unless undone; the row disappears at once.
function remove(li, c) {
  if (undo) undo.commit();
  li.remove();
  const doIt = setTimeout(() => commit(), 5000);
  const end = () => { clearTimeout(doIt); undo = null; drawUndo(); };
  const commit = () => { end(); call(`sessions/${c.id}/`, "DELETE").catch(() => {}); };
  undo = { id: c.id, commit, cancel: () => { end(); V.fillList(); } };
  if (c.id === S.session) act("new", true);
  drawUndo();
  announce(t("Conversation deleted."));
}
function drawUndo() {
  if (!V.undo) return;
  V.undo.hidden = !undo;
  V.undo.replaceChildren(...(undo ? [t("Conversation deleted.") + " ", button("cc-btn", "Undo", undo.cancel)] : []));
}
window.addEventListener("pagehide", () => { if (undo) undo.commit(); });

// --- Settings
const select = (label, value, options, onchange) => {
  const s = el("select", { onchange: () => onchange(s.value) }, ...options.map(([v, text]) => el("option", { value: v, text })));
  s.value = value;
  return el("label", { class: "cc-field" }, el("span", { text: label }), s);
};
function drawSettings() {
  const box = [title(t("Settings")),
    select(t("Theme"), store.get("theme") || "system", [["system", t("Like my device")], ["light", t("Light")], ["dark", t("Dark")]], (v) => act("theme", v)),
    select(t("Language"), lang, Object.entries(LANGS), (v) => act("language", v))];
  const details = el("input", { type: "checkbox", checked: S.details, onchange: () => act("details", details.checked) });
  box.push(el("label", { class: "cc-field cc-check" }, details, el("span", { text: t("Show each reply's model and speed") })));
  if (V.cfg.models.length || V.cfg.options.length) box.push(modelFields());
  if (S.session) {
    box.push(el("p", { class: "cc-field" }, el("a", { href: url(`sessions/${S.session}/export.md`), download: "", text: t("Download as Markdown") })),
      el("p", { class: "cc-field" }, button("cc-btn", "Print the conversation", () => act("print"))));
  }
  V.pane.replaceChildren(...box);
  V.pane.querySelector("select").focus();
}
function modelFields() {
  const status = el("p", { class: "cc-field-error", role: "status" });
  const fs = el("fieldset", { class: "cc-model" }, el("legend", { text: t("Model for this conversation") }));
  const choose = async (body) => {
    status.textContent = "";
    if (!S.session) { status.textContent = t("Ask a first question, then choose."); return; }
    try { await call(`sessions/${S.session}/`, "PATCH", body); status.textContent = t("Saved."); } catch (e) { status.textContent = oops(e); }
  };
  if (V.cfg.models.length) fs.append(select(t("Model"), "", [["", t("Default")], ...V.cfg.models.map((m) => [m, m])], (v) => v && choose({ model: v })));
  for (const name of V.cfg.options) {
    const input = el("input", { type: "number", step: "any", inputmode: "decimal", onchange: () => input.value !== "" && choose({ options: { [name]: +input.value } }) });
    fs.append(el("label", { class: "cc-field" }, el("span", { text: name.replace(/_/g, " ") }), input));
  }
  fs.append(status);
  return fs;
}
