/* What a reply may carry besides its text, loaded on first use: its figures (time to first
 * token, speed, model), the groundedness verdict, and the card that offers a person. */
import { el } from "./dom.js";
import { link, safeUrl } from "./md.js";
import { t } from "./i18n.js";
import { S } from "./state.js";
import { V, announce, place, replaceIn } from "./view.js";

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
