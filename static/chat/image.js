/* Images, loaded when a visitor picks one: checked, and shrunk in the browser (a canvas) to what
 * vision models use, so that ordinary photos fit the server's frame limit. */
import { el } from "./dom.js";
import { t } from "./i18n.js";
import { showError } from "./view.js";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];
const LONG_SIDE = 1568; // the long side vision models work at
const IMAGE_BUDGET = 700000; // characters of data URL a shrunk photo aims under

function readImage(blob) {
  return new Promise((ok) => { const r = new FileReader(); r.onload = () => ok(r.result); r.readAsDataURL(blob); });
}
// Shrink an image to LONG_SIDE on its long side (JPEG for photos); small images go as they are.
async function shrink(file) {
  let bmp;
  try { bmp = await createImageBitmap(file); } catch (e) { return readImage(file); }
  const scale = Math.min(1, LONG_SIDE / Math.max(bmp.width, bmp.height));
  if (scale === 1 && file.size < 1048576) return readImage(file);
  const c = el("canvas", { width: Math.round(bmp.width * scale), height: Math.round(bmp.height * scale) });
  c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
  let url = "";
  for (const q of [0.85, 0.7, 0.55, 0.4]) if ((url = c.toDataURL("image/jpeg", q)).length < IMAGE_BUDGET) break;
  return url;
}
// The picked file as {name, url} (a data URL), or null after showing why it cannot be sent.
export async function imagePick(input, cfg) {
  const file = input.files && input.files[0];
  input.value = "";
  if (!file) return null;
  if (!IMAGE_TYPES.includes(file.type)) return showError(t("Attach a PNG, JPEG or WebP image."), null);
  const url = await shrink(file);
  if (url.length * 0.75 > cfg.maxImage) return showError(t("The image is over {n} MB. Attach a smaller one.", { n: Math.round(cfg.maxImage / 1048576) }), null);
  return { name: file.name, url };
}

