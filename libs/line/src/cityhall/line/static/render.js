// Renders LINE message objects (what the account sends, as messaging-api.yml defines them)
// and the resident's own webhook events into chat content. Never uses innerHTML with data.

import { renderFlex } from "./flex.js";

const PIN_SVG = "M12 2a7 7 0 0 1 7 7c0 5-7 13-7 13S5 14 5 9a7 7 0 0 1 7-7zm0 4.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function actionButton(action, ctx, className) {
  const button = el("button", className, action?.label ?? "");
  button.type = "button";
  button.addEventListener("click", () => ctx.onAction(action));
  return button;
}

/** Text with URLs as links (LINE links them too). */
function appendLinked(parent, text) {
  const pattern = /https?:\/\/[^\s]+/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parent.append(text.slice(last, match.index));
    const a = el("a", null, match[0]);
    a.href = match[0];
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    parent.append(a);
    last = match.index + match[0].length;
  }
  parent.append(text.slice(last));
}

function lineEmoji() {
  const span = el("span", "line-emoji", "☺");
  span.title = "LINE絵文字";
  span.setAttribute("role", "img");
  span.setAttribute("aria-label", "LINE絵文字");
  return span;
}

/** A text message; LINE emoji stand in for their `$` placeholders (no emoji images offline). */
function textBubble(message) {
  const bubble = el("div", "bubble");
  const text = message.text ?? "";
  const emojiAt = new Set((message.emojis || []).map((e) => e.index));
  if (!emojiAt.size) {
    appendLinked(bubble, text);
    return bubble;
  }
  let run = "";
  for (let i = 0; i < text.length; i++) {
    if (emojiAt.has(i) && text[i] === "$") {
      appendLinked(bubble, run);
      run = "";
      bubble.append(lineEmoji());
    } else {
      run += text[i];
    }
  }
  appendLinked(bubble, run);
  return bubble;
}

/** textV2: `{key}` placeholders filled from `substitution` (mentions and LINE emoji). */
function textV2Bubble(message) {
  const bubble = el("div", "bubble");
  const subs = message.substitution || {};
  const text = message.text ?? "";
  let last = 0;
  for (const match of text.matchAll(/\{([A-Za-z0-9_]+)\}/g)) {
    const sub = subs[match[1]];
    if (!sub) continue;
    appendLinked(bubble, text.slice(last, match.index));
    if (sub.type === "emoji") bubble.append(lineEmoji());
    else if (sub.type === "mention") bubble.append(el("strong", null, sub.mentionee?.type === "all" ? "@All" : "@あなた"));
    last = match.index + match[0].length;
  }
  appendLinked(bubble, text.slice(last));
  return bubble;
}

function image(url, alt, link) {
  const img = el("img", "media");
  img.src = url;
  img.alt = alt;
  img.loading = "lazy";
  if (!link) return img;
  const a = el("a", "media-link");
  a.href = link;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.append(img);
  return a;
}

function locationCard(message) {
  const card = el("div", "location-card");
  const map = el("div", "mini-map");
  map.setAttribute("aria-hidden", "true");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", PIN_SVG);
  path.setAttribute("fill", "#e5484d");
  svg.append(path);
  map.append(svg);
  const info = el("div", "info");
  info.append(el("div", "title", message.title || "位置情報"));
  if (message.address) info.append(el("div", "address", message.address));
  info.append(el("div", "address", `${Number(message.latitude).toFixed(5)}, ${Number(message.longitude).toFixed(5)}`));
  card.append(map, info);
  return card;
}

function templateColumn(column, ctx, kind, template) {
  const card = el("div", `template ${kind}`);
  if (column.thumbnailImageUrl) {
    const thumb = el("img", "thumb");
    thumb.src = column.thumbnailImageUrl;
    thumb.alt = "";
    const ratio = template.imageAspectRatio === "square" ? "1 / 1" : "1.51 / 1";
    thumb.style.aspectRatio = ratio;
    thumb.style.objectFit = template.imageSize === "contain" ? "contain" : "cover";
    if (column.imageBackgroundColor) thumb.style.backgroundColor = column.imageBackgroundColor;
    card.append(thumb);
  }
  const body = el("div", "t-body");
  if (column.title) body.append(el("div", "t-title", column.title));
  body.append(el("div", "t-text", column.text ?? ""));
  card.append(body);
  const actions = el("div", "t-actions");
  for (const action of column.actions || []) actions.append(actionButton(action, ctx));
  card.append(actions);
  if (column.defaultAction) {
    body.classList.add("flex-clickable");
    body.addEventListener("click", () => ctx.onAction(column.defaultAction));
  }
  return card;
}

function renderTemplate(template, ctx) {
  switch (template?.type) {
    case "buttons":
      return templateColumn(template, ctx, "buttons", template);
    case "confirm":
      return templateColumn({ text: template.text, actions: template.actions }, ctx, "confirm", template);
    case "carousel": {
      const node = el("div", "carousel");
      for (const column of template.columns || []) node.append(templateColumn(column, ctx, "buttons", template));
      return node;
    }
    case "image_carousel": {
      const node = el("div", "carousel");
      for (const column of template.columns || []) {
        const card = el("div", "image-column");
        const button = el("button");
        button.type = "button";
        const img = el("img");
        img.src = column.imageUrl;
        img.alt = column.action?.label ?? "";
        button.append(img);
        if (column.action?.label) button.append(el("span", "label", column.action.label));
        button.addEventListener("click", () => ctx.onAction(column.action));
        card.append(button);
        node.append(card);
      }
      return node;
    }
    default:
      return el("div", "bubble", "（このテンプレートは表示できません）");
  }
}

function renderImagemap(message, ctx) {
  const node = el("div", "imagemap");
  const img = el("img");
  img.src = `${message.baseUrl}/1040`;
  img.alt = message.altText ?? "";
  img.addEventListener("error", () => { if (img.src !== message.baseUrl) img.src = message.baseUrl; }, { once: true });
  node.append(img);
  const size = message.baseSize || { width: 1040, height: 1040 };
  for (const action of message.actions || []) {
    const area = action.area || {};
    const button = el("button");
    button.type = "button";
    Object.assign(button.style, {
      left: `${(100 * area.x) / size.width}%`, top: `${(100 * area.y) / size.height}%`,
      width: `${(100 * area.width) / size.width}%`, height: `${(100 * area.height) / size.height}%`,
    });
    button.setAttribute("aria-label", action.label || action.text || action.linkUri || "イメージマップ");
    button.addEventListener("click", () =>
      ctx.onAction(action.type === "message" ? { type: "message", text: action.text } : { type: "uri", uri: action.linkUri }),
    );
    node.append(button);
  }
  return node;
}

/**
 * A sticker: its pictures come from LINE's servers, so offline a stand-in — the simulator's
 * emoji for the stickers it offers (ctx.stickers), else a labelled box.
 */
export function stickerNode(message, ctx) {
  const known = (ctx?.stickers || []).find(
    (s) => s.packageId === message.packageId && s.stickerId === message.stickerId,
  );
  const node = el("div", "sticker", known?.standIn ?? "スタンプ");
  if (known) node.classList.add("stand-in");
  node.setAttribute("role", "img");
  node.title = `packageId ${message.packageId} / stickerId ${message.stickerId}`;
  node.setAttribute("aria-label", known ? `スタンプ（${known.label}）` : "スタンプ");
  return node;
}

/** The content of one message the account sent. */
export function renderAccountMessage(message, ctx) {
  switch (message?.type) {
    case "text": return textBubble(message);
    case "textV2": return textV2Bubble(message);
    case "sticker": return stickerNode(message, ctx);
    case "image": return image(message.previewImageUrl || message.originalContentUrl, "画像", message.originalContentUrl);
    case "video": {
      const wrap = el("div", "video-wrap");
      wrap.append(image(message.previewImageUrl, "動画", message.originalContentUrl));
      return wrap;
    }
    case "audio": {
      const a = el("a", "bubble", `♪ 音声（${Math.round((message.duration || 0) / 1000)}秒）`);
      a.href = message.originalContentUrl;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      return a;
    }
    case "location": return locationCard(message);
    case "imagemap": return renderImagemap(message, ctx);
    case "template": return renderTemplate(message.template, ctx);
    case "flex": return renderFlex(message.contents, ctx);
    default: return el("div", "bubble", `（${message?.type ?? "不明"} メッセージ）`);
  }
}

/**
 * What the resident's side of the chat shows for one webhook event they sent, or null
 * (a postback without display text shows nothing in LINE either). `kind` "system" is a
 * centered line (follow, block).
 */
export function renderResidentEvent(item, ctx) {
  const event = item.event || {};
  if (event.type === "follow") {
    return { kind: "system", node: el("div", "system-line", event.follow?.isUnblocked ? "ブロックを解除しました" : "友だち追加しました") };
  }
  if (event.type === "unfollow") return { kind: "system", node: el("div", "system-line", "ブロックしました") };
  if (event.type === "postback") {
    return item.displayText ? { kind: "bubble", node: textBubble({ text: item.displayText }) } : null;
  }
  const message = event.message || {};
  switch (message.type) {
    case "text": return { kind: "bubble", node: textBubble(message) };
    case "image": {
      const url = `/sim/api/content/${encodeURIComponent(message.id)}`;
      return { kind: "bubble", node: image(url, "送信した写真", url) };
    }
    case "location": return { kind: "bubble", node: locationCard(message) };
    case "sticker": return { kind: "bubble", node: stickerNode(message, ctx) };
    default: return null;
  }
}
