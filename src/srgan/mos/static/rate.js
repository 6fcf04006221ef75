// The rating page without surprises: buttons wait until the image is loaded, the time from
// then to the answer is sent along, one answer per page (no double submission), keys 1-5
// press the buttons, and the image is drawn one image pixel per screen pixel.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("rating");
  const image = document.getElementById("stimulus");
  if (!form || !image) return;
  const buttons = Array.from(form.querySelectorAll("button[name=score]"));
  const allowed = buttons.filter((b) => !b.disabled);
  let shownAt = null;
  let sent = false;
  buttons.forEach((b) => { b.disabled = true; });
  const ready = () => {
    const ratio = window.devicePixelRatio || 1;
    image.style.width = `${image.naturalWidth / ratio}px`;
    image.style.height = `${image.naturalHeight / ratio}px`;
    shownAt = performance.now();
    allowed.forEach((b) => { b.disabled = false; });
  };
  if (image.complete && image.naturalWidth) ready(); else image.addEventListener("load", ready);
  form.addEventListener("submit", (event) => {
    if (sent || shownAt === null) { event.preventDefault(); return; }
    sent = true;
    document.getElementById("response_ms").value = (performance.now() - shownAt).toFixed(0);
    setTimeout(() => buttons.forEach((b) => { b.disabled = true; }), 0);
  });
  document.addEventListener("keydown", (event) => {
    const button = allowed.find((b) => b.dataset.key === event.key);
    if (button && !button.disabled) button.click();
  });
});
