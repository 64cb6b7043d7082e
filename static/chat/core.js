/* Helpers every module shares, loaded once: DOM (elements, icons, ids, storage), REST with the
 * CSRF token, translations. */
export function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  if (tag === "button") e.type = "button"; // never a form's submit button unless asked
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
export function icon(d, cls) {
  const s = document.createElementNS(SVG, "svg");
  for (const [k, v] of [["viewBox", "0 0 24 24"], ["aria-hidden", "true"], ["focusable", "false"], ["class", "cc-ico" + (cls ? " " + cls : "")]]) s.setAttribute(k, v);
  const p = document.createElementNS(SVG, "path");
  p.setAttribute("d", d);
  s.append(p);
  return s;
}
export const I = {
  chat: "M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z",
  min: "M5 12h14",
  close: "M6 6l12 12M18 6L6 18",
  clip: "M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9",
  send: "M22 2L11 13M22 2l-7 20-4-9-9-4z",
  stop: "M7 7h10v10H7z",
  list: "M4 6h16M4 12h16M4 18h10",
  plus: "M12 5v14M5 12h14",
  gear: "M14 17H4M20 7H10M20 17a3 3 0 1 1-6 0 3 3 0 0 1 6 0zM10 7a3 3 0 1 1-6 0 3 3 0 0 1 6 0z", // settings: two sliders
};
export function uuid() { // a version 4 UUID; crypto.randomUUID is missing on plain-HTTP pages
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
export const store = {
  get: (k) => { try { return localStorage.getItem("concierge:" + k); } catch (e) { return null; } },
  set: (k, v) => {
    try {
      if (v == null) localStorage.removeItem("concierge:" + k);
      else localStorage.setItem("concierge:" + k, v);
    } catch (e) { /* storage disabled: settings last one page */ }
  },
};

// --- REST (PROTOCOL.md), with the CSRF token on unsafe methods
let base = "/api/chat/", token = "";
export function setup(path, csrfToken) { base = path; token = csrfToken; }
export function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : token;
}
export const url = (path) => base + path;
/* Resolve to the parsed JSON (null for 204), or reject with {code, message}. */
export async function call(path, method = "GET", body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrf();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(base + path, { method, credentials: "same-origin", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw { code: "offline", message: "" };
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw (data && data.error) || { code: "internal", message: "" };
  return data;
}
export const get = (path) => call(path).catch(() => null);

// --- t(): English is the key; other languages load from i18n/<lang>.json on demand
export const LANGS = { en: "English", "pt-BR": "Português (Brasil)", es: "Español" };
let table = {};
export let lang = "en";

export function pick(raw) {
  const l = String(raw || "").toLowerCase();
  if (l.startsWith("pt")) return "pt-BR";
  if (l.startsWith("es")) return "es";
  return "en";
}
export async function load(path, wanted) {
  lang = pick(wanted);
  table = {};
  if (lang === "en") return;
  try {
    const res = await fetch(path + lang + ".json", { credentials: "same-origin" });
    if (res.ok) table = await res.json();
  } catch (e) { /* offline: English */ }
}
// Plurals: t(["{n} star", "{n} stars"], {n}).
export function t(key, vars) {
  if (Array.isArray(key)) key = vars && vars.n === 1 ? key[0] : key[1];
  let s = table[key] || key;
  for (const k in vars || {}) s = s.split("{" + k + "}").join(vars[k]);
  return s;
}
