/* What a visitor does to single messages, loaded on first use: delete, edit the last question,
 * pin, print the conversation. */
import { call } from "./api.js";
import { t } from "./i18n.js";
import { S, act } from "./state.js";
import * as v from "./view.js";

const V = v.V;

export async function removeMessage(node, quiet) {
  const id = node.dataset.messageId;
  if (!id) return;
  try {
    await call(`messages/${id}/`, "DELETE");
    if (!quiet) { v.announce(t("Message deleted.")); act("reload"); }
  } catch (e) { v.showError(e.message || t("Something went wrong. Please try again."), null); }
}
export function edit(node) {
  V.input.value = node.querySelector(".cc-body").textContent;
  S.editing = node;
  V.input.focus();
}
export async function pin(node, b) {
  const on = !node.classList.contains("cc-pinned");
  try {
    await call(`messages/${node.dataset.messageId}/`, "PATCH", { pinned: on });
    node.classList.toggle("cc-pinned", on);
    b.textContent = t(on ? "Unpin" : "Pin");
    b.setAttribute("aria-pressed", String(on));
  } catch (e) { v.showError(e.message || t("Something went wrong. Please try again."), null); }
}
export function print() {
  document.documentElement.classList.add("cc-printing");
  setTimeout(() => { window.print(); document.documentElement.classList.remove("cc-printing"); }, 50);
}

