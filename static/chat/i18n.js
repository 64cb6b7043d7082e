/* t(): English is the key; other languages load from i18n/<lang>.json on demand. */
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
