// Drag on a report's photo to fill its "regions to blur" field with left,top,width,height (%).
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("img[data-blur-target]")) {
    const field = document.getElementById(img.dataset.blurTarget);
    if (!field) continue;
    let start = null;
    const percent = (event) => {
      const box = img.getBoundingClientRect();
      return [
        Math.min(100, Math.max(0, ((event.clientX - box.left) / box.width) * 100)),
        Math.min(100, Math.max(0, ((event.clientY - box.top) / box.height) * 100)),
      ];
    };
    img.addEventListener("mousedown", (event) => {
      event.preventDefault();
      start = percent(event);
    });
    img.addEventListener("mouseup", (event) => {
      if (!start) return;
      const end = percent(event);
      const [left, top] = [Math.min(start[0], end[0]), Math.min(start[1], end[1])];
      const [width, height] = [Math.abs(end[0] - start[0]), Math.abs(end[1] - start[1])];
      start = null;
      if (width < 1 || height < 1) return;
      const line = [left, top, width, height].map((v) => v.toFixed(1)).join(",");
      field.value = field.value.trim() ? `${field.value.trim()}\n${line}` : line;
    });
  }
});
