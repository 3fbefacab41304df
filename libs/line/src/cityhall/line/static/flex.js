// Flex Message renderer: bubbles and carousels of box / text / span / button / image / icon /
// separator / spacer / filler, close to how the LINE app lays them out.
// https://developers.line.biz/en/docs/messaging-api/flex-message-layout/

const TEXT_SIZES = { xxs: 11, xs: 13, sm: 14, md: 16, lg: 19, xl: 22, xxl: 29, "3xl": 35, "4xl": 48, "5xl": 74 };
const IMAGE_SIZES = {
  xxs: 40, xs: 60, sm: 80, md: 100, lg: 120, xl: 140, xxl: 160, "3xl": 180, "4xl": 200, "5xl": 240,
};
const SPACING = { none: 0, xs: 2, sm: 4, md: 8, lg: 12, xl: 16, xxl: 20 };
const RADIUS = { none: 0, xs: 2, sm: 4, md: 8, lg: 12, xl: 16, xxl: 20 };
const BORDER = { none: 0, light: 0.5, normal: 1, medium: 2, "semi-bold": 3, bold: 4 };
const BLOCK_PADDING = { header: 20, hero: 0, body: 20, footer: 10 };
const ALIGN = { start: "flex-start", end: "flex-end", center: "center" };
const JUSTIFY = {
  "flex-start": "flex-start", "flex-end": "flex-end", center: "center",
  "space-between": "space-between", "space-around": "space-around", "space-evenly": "space-evenly",
};

/** A keyword, or a CSS length given as "12px" / "30%". */
function length(value, table) {
  if (value === undefined || value === null) return null;
  if (table && value in table) return `${table[value]}px`;
  if (/^-?\d+(\.\d+)?(px|%)$/.test(String(value))) return String(value);
  return null;
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

/** Makes a component act like a button (mouse and keyboard) when it has an action. */
function bindAction(node, action, ctx) {
  if (!action) return;
  node.classList.add("flex-clickable");
  if (node.tagName !== "BUTTON") {
    node.setAttribute("role", "button");
    node.tabIndex = 0;
    node.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        e.stopPropagation();
        ctx.onAction(action);
      }
    });
  }
  if (action.label && !node.getAttribute("aria-label") && node.tagName !== "BUTTON") {
    node.setAttribute("aria-label", action.label);
  }
  node.addEventListener("click", (e) => {
    e.stopPropagation();
    ctx.onAction(action);
  });
}

/** flex, margin, spacing, offsets and size shared by every component inside a box. */
function placeInParent(node, component, parent, index) {
  const horizontal = parent.layout === "horizontal" || parent.layout === "baseline";
  const defaultFlex = horizontal ? 1 : 0;
  let flex = component.flex ?? defaultFlex;
  if (component.type === "filler") flex = component.flex ?? 1;
  const hasSize = horizontal ? component.width : component.height;
  if (hasSize && component.flex === undefined) node.style.flex = "none";
  else if (flex > 0) node.style.flex = `${flex} 0 0`;
  else node.style.flex = "0 0 auto";

  // A box's spacing goes between its components; a component's own margin overrides it.
  const margin = length(component.margin, SPACING) ?? length(parent.spacing, SPACING);
  if (margin && index > 0) {
    if (horizontal) node.style.marginInlineStart = margin;
    else node.style.marginTop = margin;
  }
  if (component.position === "absolute") node.style.position = "absolute";
  if (component.position === "relative" || component.offsetTop || component.offsetStart) {
    node.style.position = node.style.position || "relative";
  }
  for (const [prop, css] of [["offsetTop", "top"], ["offsetBottom", "bottom"], ["offsetStart", "left"], ["offsetEnd", "right"]]) {
    const v = length(component[prop], SPACING);
    if (v) node.style[css] = v;
  }
  if (component.gravity && horizontal) {
    node.style.alignSelf = { top: "flex-start", bottom: "flex-end", center: "center" }[component.gravity] || "";
  }
}

function renderText(component, ctx) {
  const node = el("div", "flex-text");
  const size = length(component.size ?? "md", TEXT_SIZES);
  if (size) node.style.fontSize = size;
  if (component.weight === "bold") node.style.fontWeight = "700";
  if (component.color) node.style.color = component.color;
  if (component.style === "italic") node.style.fontStyle = "italic";
  if (component.decoration && component.decoration !== "none") node.style.textDecoration = component.decoration;
  if (component.align) node.style.textAlign = { start: "left", end: "right", center: "center" }[component.align] || "";
  if (component.lineSpacing) node.style.lineHeight = `calc(1.4em + ${component.lineSpacing})`;
  if (!component.wrap) node.classList.add("nowrap");
  if (component.wrap && component.maxLines) {
    node.style.display = "-webkit-box";
    node.style.webkitBoxOrient = "vertical";
    node.style.webkitLineClamp = String(component.maxLines);
    node.style.overflow = "hidden";
  }
  if (Array.isArray(component.contents) && component.contents.length) {
    for (const span of component.contents) {
      if (span.type !== "span") continue;
      const s = el("span");
      s.textContent = span.text ?? "";
      const spanSize = length(span.size, TEXT_SIZES);
      if (spanSize) s.style.fontSize = spanSize;
      if (span.color) s.style.color = span.color;
      if (span.weight === "bold") s.style.fontWeight = "700";
      if (span.style === "italic") s.style.fontStyle = "italic";
      if (span.decoration && span.decoration !== "none") s.style.textDecoration = span.decoration;
      node.append(s);
    }
  } else {
    node.textContent = component.text ?? "";
  }
  bindAction(node, component.action, ctx);
  return node;
}

function renderButton(component, ctx) {
  const wrap = el("div", "flex-button-wrap");
  wrap.style.display = "flex";
  const style = component.style || "link";
  const button = el("button", `flex-button ${style} ${component.height === "sm" ? "sm" : "md"}`);
  button.type = "button";
  button.textContent = component.action?.label ?? "";
  if (component.color) {
    if (style === "link") button.style.color = component.color;
    else button.style.background = component.color;
  }
  bindAction(button, component.action, ctx);
  wrap.append(button);
  return wrap;
}

function renderImage(component, ctx, inHero) {
  const wrap = el("div", "flex-image-wrap");
  wrap.style.justifyContent = ALIGN[component.align || "center"];
  const img = el("img", "flex-image");
  img.src = component.url;
  img.alt = component.action?.label ?? "";
  img.loading = "lazy";
  const size = component.size ?? (inHero ? "full" : "md");
  img.style.width = size === "full" ? "100%" : length(size, IMAGE_SIZES) ?? "100px";
  const ratio = /^(\d+(\.\d+)?):(\d+(\.\d+)?)$/.exec(component.aspectRatio ?? "1:1");
  if (ratio) img.style.aspectRatio = `${ratio[1]} / ${ratio[3]}`;
  img.style.objectFit = component.aspectMode === "cover" ? "cover" : "contain";
  if (component.backgroundColor) img.style.backgroundColor = component.backgroundColor;
  bindAction(img, component.action, ctx);
  wrap.append(img);
  return wrap;
}

function renderIcon(component) {
  const img = el("img", "flex-icon");
  img.src = component.url;
  img.alt = "";
  const size = length(component.size ?? "md", TEXT_SIZES) ?? "16px";
  img.style.height = size;
  const ratio = /^(\d+(\.\d+)?):(\d+(\.\d+)?)$/.exec(component.aspectRatio ?? "1:1");
  img.style.width = ratio ? `calc(${size} * ${ratio[1]} / ${ratio[3]})` : size;
  img.style.flex = "none";
  return img;
}

function renderBox(box, ctx) {
  const node = el("div", "flex-box");
  const layout = box.layout || "vertical";
  node.style.flexDirection = layout === "vertical" ? "column" : "row";
  if (layout === "baseline") node.style.alignItems = "baseline";
  if (box.justifyContent) node.style.justifyContent = JUSTIFY[box.justifyContent] || "";
  if (box.alignItems) node.style.alignItems = ALIGN[box.alignItems.replace("flex-", "")] || box.alignItems;
  if (box.backgroundColor) node.style.backgroundColor = box.backgroundColor;
  if (box.background?.type === "linearGradient") {
    const stops = [box.background.startColor];
    if (box.background.centerColor) stops.push(`${box.background.centerColor} ${box.background.centerPosition || "50%"}`);
    stops.push(box.background.endColor);
    node.style.backgroundImage = `linear-gradient(${box.background.angle || "0deg"}, ${stops.join(", ")})`;
  }
  const border = length(box.borderWidth, BORDER);
  if (border) {
    node.style.border = `${border} solid ${box.borderColor || "#000"}`;
  }
  const radius = length(box.cornerRadius, RADIUS);
  if (radius) { node.style.borderRadius = radius; node.style.overflow = "hidden"; }
  for (const [prop, css] of [["width", "width"], ["maxWidth", "maxWidth"], ["height", "height"], ["maxHeight", "maxHeight"]]) {
    const v = length(box[prop]);
    if (v) node.style[css] = v;
  }
  const pad = length(box.paddingAll, SPACING);
  if (pad) node.style.padding = pad;
  for (const [prop, css] of [["paddingTop", "paddingTop"], ["paddingBottom", "paddingBottom"], ["paddingStart", "paddingLeft"], ["paddingEnd", "paddingRight"]]) {
    const v = length(box[prop], SPACING);
    if (v) node.style[css] = v;
  }
  (box.contents || []).forEach((child, index) => {
    const childNode = renderComponent(child, ctx, false);
    if (!childNode) return;
    placeInParent(childNode, child, box, index);
    node.append(childNode);
  });
  bindAction(node, box.action, ctx);
  return node;
}

function renderComponent(component, ctx, inHero) {
  switch (component?.type) {
    case "box": return renderBox(component, ctx);
    case "text": return renderText(component, ctx);
    case "button": return renderButton(component, ctx);
    case "image": return renderImage(component, ctx, inHero);
    case "icon": return renderIcon(component);
    case "separator": {
      const hr = el("hr", "flex-separator");
      if (component.color) hr.style.borderTopColor = component.color;
      return hr;
    }
    case "spacer": {
      const spacer = el("div", "flex-spacer");
      spacer.style.minHeight = spacer.style.minWidth = length(component.size ?? "md", SPACING) ?? "8px";
      return spacer;
    }
    case "filler": return el("div", "flex-filler");
    case "video": return component.altContent ? renderComponent(component.altContent, ctx, inHero) : null;
    default: return null;
  }
}

function renderBlock(name, component, style, ctx) {
  const block = el("div", `flex-block flex-${name}`);
  if (style?.backgroundColor) block.style.backgroundColor = style.backgroundColor;
  if (style?.separator) block.style.borderTop = `1px solid ${style.separatorColor || "#d4d6da"}`;
  const node = renderComponent(component, ctx, name === "hero");
  if (!node) return null;
  if (component.type === "box" && component.paddingAll === undefined && !component.paddingTop) {
    node.style.padding = `${BLOCK_PADDING[name]}px`;
  }
  node.style.flex = "1 1 auto";
  block.append(node);
  return block;
}

export function renderBubble(bubble, ctx) {
  const node = el("div", `flex-bubble ${bubble.size || "mega"}`);
  if (bubble.direction === "rtl") node.dir = "rtl";
  const styles = bubble.styles || {};
  for (const name of ["header", "hero", "body", "footer"]) {
    if (!bubble[name]) continue;
    const block = renderBlock(name, bubble[name], styles[name], ctx);
    if (block) node.append(block);
  }
  bindAction(node, bubble.action, ctx);
  return node;
}

export function renderFlex(contents, ctx) {
  if (contents?.type === "carousel") {
    const node = el("div", "carousel");
    for (const bubble of contents.contents || []) node.append(renderBubble(bubble, ctx));
    return node;
  }
  return renderBubble(contents || {}, ctx);
}
