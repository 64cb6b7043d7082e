/* The REST endpoints of PROTOCOL.md, with the CSRF token on unsafe methods. */
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
