// The rating page without surprises: buttons wait until the image is loaded, the time from
// then to the answer is sent along, one answer per page (no double submission), keys 1-5
// press the buttons, and the image is drawn one image pixel per screen pixel, unless the
// window is too small to show it whole with the buttons: then it is scaled down to fit, and
// the bar says by how much.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("rating");
  const image = document.getElementById("stimulus");
  if (!form || !image) return;
  const stage = document.getElementById("stage");
  const scaled = document.getElementById("scaled");
  const buttons = Array.from(form.querySelectorAll("button[name=score]"));
  const allowed = buttons.filter((b) => !b.disabled);
  let shownAt = null;
  let sent = false;
  buttons.forEach((b) => { b.disabled = true; });
  const fit = () => {
    const ratio = window.devicePixelRatio || 1;
    const width = image.naturalWidth / ratio;
    const height = image.naturalHeight / ratio;
    const style = getComputedStyle(stage);
    const roomX = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const roomY = stage.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    const scale = Math.min(1, roomX / width, roomY / height);
    image.style.width = `${width * scale}px`;
    image.style.height = `${height * scale}px`;
    scaled.hidden = scale >= 1;
    scaled.textContent = `shown at ${Math.floor(scale * 100)}% (a larger window shows it whole at 100%)`;
  };
  const ready = () => {
    fit();
    window.addEventListener("resize", fit);
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
