// Draws LINE messages in a staff page's phone as the LINE app shows them, with the renderer the
// resident simulator uses (cityhall.line's render.js): the composer's live preview
// (window.cityhallPreview, called by notices.js) and a notice's variants on its page
// (<script type="application/json" data-preview-for="<container id>">).
import { renderAccountMessage } from "./line/render.js";

const ctx = { onAction() {}, stickers: [] };  // a preview's buttons do nothing

function draw(container, messages) {
  container.replaceChildren(...messages.map((message) => {
    const row = document.createElement("div");
    row.className = "line-message";
    row.append(renderAccountMessage(message, ctx));
    return row;
  }));
}

window.cityhallPreview = draw;
document.querySelectorAll('script[type="application/json"][data-preview-for]').forEach((source) => {
  const container = document.getElementById(source.dataset.previewFor);
  if (container) draw(container, JSON.parse(source.textContent));
});
document.dispatchEvent(new Event("cityhall-preview-ready"));
