// Resident simulator: pick a resident, talk to the account as LINE would, see its replies live.
// Every action goes to /sim/api/...; the server builds, signs and posts the webhook.

import { renderAccountMessage, renderResidentEvent } from "./line/render.js";

const $ = (id) => document.getElementById(id);
const state = {
  config: { accountName: "ポケット市役所" },
  town: null,
  residents: [],
  resident: null,
  source: null,
  shown: new Set(),
  richMenuTimer: null,
  selectedPlace: null,
  stickers: [],
  pinned: true,
  ownScrollTop: null,
};
const renderContext = { onAction: (action) => performAction(action), stickers: state.stickers };

// --- API ------------------------------------------------------------------------------------

/** fetch, never throwing: a network failure is status 0 with a message the banner can show. */
async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    return { ok: false, status: 0, body: { detail: "シミュレーターのサーバーに接続できません。" } };
  }
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return { ok: response.ok, status: response.status, body };
}

const api = (path, options = {}) => request(`/sim/api${path}`, options);

function detailOf(body, status) {
  const detail = body?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg).join(" / ");
  return `HTTP ${status}`;
}

// --- banner and toast ---------------------------------------------------------------------------

function showError(text) {
  $("error-text").textContent = text;
  $("error-banner").hidden = false;
}
function clearError() { $("error-banner").hidden = true; }
let toastTimer = null;
function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 2200);
}

/** The gateway's answer to a webhook, as the page tells it. */
function reportDelivery(result) {
  const item = result.body?.item;
  if (result.ok) { clearError(); return; }
  if (item) {
    const status = item.status === null ? "接続できません" : `HTTP ${item.status}`;
    showError(`ゲートウェイが webhook を受け付けませんでした（${status}）。${item.error ?? ""}`);
  } else {
    showError(detailOf(result.body, result.status));
  }
}

// --- residents -----------------------------------------------------------------------------------

const FRIENDSHIP_LABEL = { none: "友だち未追加", friend: "友だち", blocked: "ブロック中" };

function renderResidentList() {
  const list = $("resident-list");
  list.replaceChildren();
  $("no-residents").hidden = state.residents.length > 0;
  for (const resident of state.residents) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.userId = resident.userId;
    if (state.resident?.userId === resident.userId) button.setAttribute("aria-current", "true");
    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.textContent = [...resident.displayName][0] ?? "?";
    avatar.setAttribute("aria-hidden", "true");
    const meta = document.createElement("span");
    meta.className = "resident-meta";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = resident.displayName;
    const stateLine = document.createElement("span");
    stateLine.className = "state";
    stateLine.textContent = FRIENDSHIP_LABEL[resident.friendship] ?? "";
    meta.append(name, stateLine);
    button.append(avatar, meta);
    button.addEventListener("click", () => openResident(resident.userId));
    li.append(button);
    list.append(li);
  }
}

async function loadResidents() {
  const result = await api("/residents");
  if (result.ok) state.residents = result.body.residents;
  renderResidentList();
}

async function createResident(event) {
  event.preventDefault();
  const input = $("new-resident-name");
  const displayName = input.value.trim();
  if (!displayName) { input.focus(); return; }
  const result = await api("/residents", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ displayName }),
  });
  if (!result.ok) { showError(detailOf(result.body, result.status)); return; }
  input.value = "";
  state.residents.push(result.body);
  await openResident(result.body.userId);
}

function updateResident(patch) {
  Object.assign(state.resident, patch);
  const listed = state.residents.find((r) => r.userId === state.resident.userId);
  if (listed) Object.assign(listed, patch);
  renderResidentList();
  renderFriendship();
}

function renderFriendship() {
  const r = state.resident;
  const friendship = r?.friendship;
  $("resident-badge").textContent = r ? `${r.displayName} として参加中（${FRIENDSHIP_LABEL[friendship]}）` : "";
  $("follow-button").hidden = !r || friendship === "friend";
  $("follow-button").textContent = friendship === "blocked" ? "ブロック解除" : "友だち追加";
  $("block-button").hidden = !r || friendship !== "friend";
  $("friend-prompt").hidden = !r || friendship === "friend";
  $("friend-prompt-text").textContent = friendship === "blocked"
    ? "このアカウントをブロックしています。ブロックを解除するとメッセージを送れます。"
    : "このアカウントを友だち追加すると、市からのお知らせが届きます。";
  $("prompt-follow").textContent = friendship === "blocked" ? "ブロック解除" : "追加";
  const disabled = !r || friendship === "blocked";
  for (const id of ["message-input", "send-button", "location-button", "photo-input", "sticker-button"]) {
    $(id).disabled = disabled;
  }
  $("photo-label").classList.toggle("disabled", disabled);
  if (disabled) setStickerPanelOpen(false);
}

async function openResident(userId) {
  const resident = state.residents.find((r) => r.userId === userId);
  if (!resident) return;
  state.resident = { ...resident };
  if (location.hash !== `#${userId}`) history.replaceState(null, "", `#${userId}`);
  renderResidentList();
  renderFriendship();
  clearError();
  state.shown = new Set();
  $("chat").replaceChildren();
  chatResizes.disconnect();
  chatResizes.observe($("chat"));
  scrollToNewest();
  $("quick-replies").hidden = true;
  $("rich-menu").hidden = true;
  $("rich-menu").dataset.menuId = "";  // each resident's menu is drawn afresh
  // On a phone the resident list stacks above the chat: bring the whole chat into view.
  if (matchMedia("(max-width: 780px)").matches) document.querySelector(".phone").scrollIntoView({ block: "start" });
  await subscribe(userId);
  if (state.resident?.userId !== userId) return;
  await loadHistory();
  await refreshRichMenu();
  // Ready to write, unless the person has meanwhile started typing elsewhere (a next name).
  const active = document.activeElement;
  const typing = active instanceof HTMLInputElement && active.value !== "";
  if (state.resident?.userId === userId && !typing) $("message-input").focus({ preventScroll: true });
}

// --- keeping the newest message in view ---------------------------------------------------------
// As in LINE, the message list ends where the quick replies, the composer and the rich menu
// begin. While the resident is at the newest message it stays in view whatever changes size
// (the rich menu or a quick-reply bar opening or closing, an image loading); scrolling up to
// read unpins it, and every new message scrolls to the newest again.

const chatResizes = new ResizeObserver(() => { if (state.pinned) scrollToNewest(); });

function scrollToNewest() {
  const chat = $("chat");
  chat.scrollTop = chat.scrollHeight;
  state.pinned = true;
  state.ownScrollTop = chat.scrollTop;
}

function onChatScroll() {
  const chat = $("chat");
  const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight <= 4;
  // The scroll event of our own scrollToNewest may come after more content did: not the resident's.
  state.pinned = atBottom || (state.pinned && chat.scrollTop === state.ownScrollTop);
}

// --- the chat ------------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat("ja-JP", { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat("ja-JP", { month: "numeric", day: "numeric", weekday: "short" });

function dayStart(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** Inserts a node keeping the chat in time order (ties keep arrival order). */
function insertSorted(node, at) {
  const chat = $("chat");
  node.dataset.at = String(at);
  const after = [...chat.children].find((child) => Number(child.dataset.at) > at);
  chat.insertBefore(node, after ?? null);
}

function ensureDivider(at) {
  const start = dayStart(at);
  if ($("chat").querySelector(`.date-divider[data-day="${start}"]`)) return;
  const divider = document.createElement("div");
  divider.className = "date-divider";
  divider.dataset.day = String(start);
  divider.textContent = dayFormat.format(new Date(start));
  insertSorted(divider, start - 0.5);
}

function accountIcon() {
  const img = document.createElement("img");
  img.className = "icon";
  img.src = "/sim/static/account.svg";
  img.alt = "";
  return img;
}

function messageRow(own, content, metaLines, senderName) {
  const row = document.createElement("div");
  row.className = `msg ${own ? "own" : "theirs"}`;
  if (!own) row.append(accountIcon());
  const body = document.createElement("div");
  body.className = "body";
  if (senderName) {
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = senderName;
    body.append(sender);
  }
  const line = document.createElement("div");
  line.className = "line";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.append(...metaLines);
  line.append(content, meta);
  body.append(line);
  row.append(body);
  return row;
}

/** Shows a new node in the chat, in time order, and scrolls to the newest message. */
function insertNew(node, at) {
  ensureDivider(at);
  insertSorted(node, at);
  chatResizes.observe(node);
  scrollToNewest();
}

function addRow(item, content, own, metaLines) {
  const time = document.createElement("time");
  time.dateTime = new Date(item.at).toISOString();
  time.textContent = timeFormat.format(new Date(item.at));
  const sender = own ? null : (item.message?.sender?.name ?? state.config.accountName);
  const row = messageRow(own, content, [...metaLines, time], sender);
  row.dataset.id = item.id;
  row.dataset.from = item.from;
  row.quickReply = item.message?.quickReply ?? null;
  insertNew(row, item.at);
  return row;
}

function addItem(item) {
  if (item.id && state.shown.has(item.id)) return;
  if (item.id) state.shown.add(item.id);
  $("chat-empty")?.remove();
  if (item.from === "account") {
    addRow(item, renderAccountMessage(item.message, renderContext), false, []);
    scheduleRichMenuRefresh();
  } else {
    const rendered = renderResidentEvent(item, renderContext);
    if (rendered) {
      if (rendered.kind === "system") {
        rendered.node.dataset.id = item.id;
        insertNew(rendered.node, item.at);
      } else {
        const meta = [];
        const status = document.createElement("span");
        if (item.status === 200) status.textContent = "既読";
        else { status.className = "failed"; status.textContent = "未送信"; status.title = item.error ?? ""; }
        meta.push(status);
        addRow(item, rendered.node, true, meta);
      }
    }
  }
  renderQuickReplies();
}

/** LINE shows quick replies only while the message carrying them is the last one in the chat. */
function renderQuickReplies() {
  const container = $("quick-replies");
  const rows = [...$("chat").querySelectorAll(".msg, .system-line")];
  const last = rows[rows.length - 1];
  const items = last?.quickReply?.items ?? [];
  container.replaceChildren();
  container.hidden = items.length === 0 || state.resident?.friendship === "blocked";
  for (const entry of items) {
    const action = entry.action || {};
    const button = document.createElement("button");
    button.type = "button";
    if (entry.imageUrl) {
      const icon = document.createElement("img");
      icon.src = entry.imageUrl;
      icon.alt = "";
      button.append(icon);
    }
    button.append(action.label ?? "");
    button.addEventListener("click", () => performAction(action));
    container.append(button);
  }
}

async function loadHistory() {
  if (!state.resident) return;
  const result = await api(`/residents/${state.resident.userId}/history`);
  if (!result.ok) { showError(detailOf(result.body, result.status)); return; }
  for (const item of result.body.items) addItem(item);
  scrollToNewest();
}

/** Opens the live stream; resolves once it is open (or after 5 s), so history comes after it. */
function subscribe(userId) {
  state.source?.close();
  const source = new EventSource(`/sim/api/residents/${userId}/stream`);
  let dropped = false;
  const opened = new Promise((resolve) => {
    source.addEventListener("open", resolve, { once: true });
    setTimeout(resolve, 5000);
  });
  source.onmessage = (event) => {
    const delivered = JSON.parse(event.data);
    addItem({ from: "account", at: Date.parse(delivered.receivedAt) || Date.now(), ...delivered });
  };
  source.onerror = () => { dropped = true; };
  source.onopen = () => {
    // After a dropped connection, anything delivered meanwhile is in the history.
    if (dropped) { dropped = false; loadHistory(); }
  };
  state.source = source;
  return opened;
}

// --- what the resident does -------------------------------------------------------------------

function pendingBubble(text) {
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = text;
  const status = document.createElement("span");
  status.textContent = "送信中…";
  const row = messageRow(true, bubble, [status], null);
  row.classList.add("pending");
  $("chat-empty")?.remove();
  $("chat").append(row);
  scrollToNewest();
  return row;
}

async function send(action, preview) {
  if (!state.resident) { showError("先に住民を選んでください。"); return null; }
  $("quick-replies").hidden = true;
  const pending = preview ? pendingBubble(preview) : null;
  const result = await api(`/residents/${state.resident.userId}/actions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(action),
  });
  pending?.remove();
  if (result.body?.item) addItem(result.body.item);
  else renderQuickReplies();
  reportDelivery(result);
  return result;
}

async function sendText(text) {
  const trimmed = text.trim();
  if (!trimmed) return;
  await send({ type: "text", text: trimmed }, trimmed);
}

async function sendPostback(data, params, displayText) {
  const action = { type: "postback", data };
  if (params) action.params = params;
  if (displayText) action.displayText = displayText;
  await send(action, displayText);
}

async function follow() {
  const result = await send({ type: "follow" });
  if (result && (result.ok || result.body?.item)) {
    updateResident({ friendship: "friend" });
    await refreshRichMenu();
  }
}

async function block() {
  if (!confirm(`${state.config.accountName} をブロックしますか？`)) return;
  const result = await send({ type: "unfollow" });
  if (result && (result.ok || result.body?.item)) updateResident({ friendship: "blocked" });
  $("quick-replies").hidden = true;
}

async function sendPhoto(file) {
  if (!state.resident || !file) return;
  const form = new FormData();
  form.append("file", file);
  const pending = pendingBubble(`写真を送信中：${file.name}`);
  const result = await api(`/residents/${state.resident.userId}/photos`, { method: "POST", body: form });
  pending.remove();
  if (result.body?.item) addItem(result.body.item);
  reportDelivery(result);
}

/** What tapping an action does, per LINE's action types. */
async function performAction(action) {
  if (!action) return;
  switch (action.type) {
    case "message":
      await sendText(action.text ?? action.label ?? "");
      break;
    case "postback": {
      await sendPostback(action.data, null, action.displayText ?? action.text);
      if (action.inputOption === "openKeyboard") {
        $("message-input").value = action.fillInText ?? "";
        $("message-input").focus();
      } else if (action.inputOption === "openRichMenu") setRichMenuOpen(true);
      else if (action.inputOption === "closeRichMenu") setRichMenuOpen(false);
      break;
    }
    case "datetimepicker":
      openDatetimePicker(action);
      break;
    case "location":
      openLocationPicker();
      break;
    case "camera":
    case "cameraRoll":
      $("photo-input").click();
      break;
    case "richmenuswitch":
      await sendPostback(action.data, { newRichMenuAliasId: action.richMenuAliasId, status: "SUCCESS" });
      break;
    case "clipboard":
      try { await navigator.clipboard.writeText(action.clipboardText ?? ""); toast("コピーしました"); }
      catch { toast("コピーできませんでした"); }
      break;
    case "uri": {
      const uri = action.uri ?? action.altUri?.desktop ?? "";
      if (/^https:\/\/line\.me\/R\/nv\/location\/?$/.test(uri)) openLocationPicker();
      else if (/^https:\/\/line\.me\/R\/nv\/camera(Roll\/(single|multi))?\/?$/.test(uri)) $("photo-input").click();
      else if (/^(https?:|tel:|mailto:)/.test(uri)) window.open(uri, "_blank", "noopener");
      else toast("このリンクはシミュレーターでは開けません");
      break;
    }
    default:
      toast(`「${action.type}」アクションには対応していません`);
  }
}

// --- stickers -------------------------------------------------------------------------------------

function setStickerPanelOpen(open) {
  $("sticker-panel").hidden = !open;
  $("sticker-button").setAttribute("aria-expanded", String(open));
  // Like LINE's sticker keyboard, the panel takes the rich menu's place.
  if (open) setRichMenuOpen(false);
}

function setupStickers() {
  const panel = $("sticker-panel");
  for (const sticker of state.stickers) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = sticker.standIn;
    button.title = sticker.label;
    button.setAttribute("aria-label", `スタンプ（${sticker.label}）`);
    button.addEventListener("click", () =>
      send({ type: "sticker", packageId: sticker.packageId, stickerId: sticker.stickerId }, sticker.standIn),
    );
    panel.append(button);
  }
}

// --- datetime picker ----------------------------------------------------------------------

const PICKER = {
  date: { type: "date", label: "日付", title: "日付を選択" },
  time: { type: "time", label: "時刻", title: "時刻を選択" },
  datetime: { type: "datetime-local", label: "日時", title: "日時を選択" },
};
let pickerAction = null;

function openDatetimePicker(action) {
  const mode = PICKER[action.mode] ? action.mode : "datetime";
  pickerAction = { ...action, mode };
  const input = $("datetime-input");
  input.type = PICKER[mode].type;
  input.min = action.min ?? "";
  input.max = action.max ?? "";
  input.value = action.initial ?? "";
  $("datetime-label").textContent = PICKER[mode].label;
  $("datetime-title").textContent = action.label ? `${action.label}：${PICKER[mode].title}` : PICKER[mode].title;
  $("datetime-dialog").showModal();
  input.focus();
}

async function submitDatetime(event) {
  event.preventDefault();
  const input = $("datetime-input");
  if (!input.value || !input.checkValidity()) { input.reportValidity(); return; }
  $("datetime-dialog").close();
  const value = pickerAction.mode === "datetime" ? input.value.slice(0, 16) : input.value.slice(0, pickerAction.mode === "time" ? 5 : 10);
  // LINE shows nothing for a datetime picker; the simulator shows the resident what they
  // picked as the postback's display text (recorded, never sent in the webhook).
  await sendPostback(pickerAction.data, { [pickerAction.mode]: value }, pickedText(value));
}

/** "2026-12-05" → 2026年12月5日, "09:05" → 9時05分, "2026-12-05T09:05" → both. */
function pickedText(value) {
  const date = value.match(/^(\d{4})-(\d{2})-(\d{2})/);
  const time = value.match(/(\d{2}):(\d{2})$/);
  const parts = [];
  if (date) parts.push(`${Number(date[1])}年${Number(date[2])}月${Number(date[3])}日`);
  if (time) parts.push(`${Number(time[1])}時${time[2]}分`);
  return parts.join(" ");
}

// --- location picker -----------------------------------------------------------------------

function toLatLng(x, y) {
  const { bounds, map } = state.town;
  return {
    latitude: Number((bounds.north - ((bounds.north - bounds.south) * y) / map.height).toFixed(6)),
    longitude: Number((bounds.west + ((bounds.east - bounds.west) * x) / map.width).toFixed(6)),
  };
}

function placePin(x, y) {
  const pin = $("map-pin");
  pin.setAttribute("transform", `translate(${x} ${y})`);
  pin.hidden = false;
  pin.removeAttribute("hidden");
  pin.dataset.x = String(x);
  pin.dataset.y = String(y);
}

function selectPoint(x, y, place) {
  const { map } = state.town;
  x = Math.max(0, Math.min(map.width, x));
  y = Math.max(0, Math.min(map.height, y));
  placePin(x, y);
  const point = place
    ? { latitude: place.latitude, longitude: place.longitude, title: place.title, address: place.address }
    : toLatLng(x, y);
  state.selectedPlace = point;
  for (const button of $("place-list").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.key === place?.key));
  }
  $("location-selected").textContent = place
    ? `選択中：${place.title}（${place.address}）`
    : `選択中：地図上の地点（北緯 ${point.latitude}、東経 ${point.longitude}）`;
  $("location-send").disabled = false;
}

function setupTownMap() {
  const svg = $("town-map");
  const markers = $("map-places");
  const list = $("place-list");
  for (const place of state.town.places) {
    const g = document.createElementNS("http://www.w3.org/2000/svg", "g");
    g.setAttribute("class", "place-marker");
    g.setAttribute("transform", `translate(${place.x} ${place.y})`);
    const dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
    dot.setAttribute("r", "10");
    const icon = document.createElementNS("http://www.w3.org/2000/svg", "text");
    icon.setAttribute("class", "glyph");
    icon.setAttribute("text-anchor", "middle");
    icon.setAttribute("dy", "4");
    icon.textContent = place.icon;
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("text-anchor", "middle");
    label.setAttribute("dy", "24");
    label.textContent = place.title;
    g.append(dot, icon, label);
    g.addEventListener("click", (e) => { e.stopPropagation(); selectPoint(place.x, place.y, place); });
    markers.append(g);
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.key = place.key;
    button.setAttribute("aria-pressed", "false");
    button.textContent = place.title;
    button.addEventListener("click", () => selectPoint(place.x, place.y, place));
    li.append(button);
    list.append(li);
  }
  svg.addEventListener("click", (e) => {
    const point = new DOMPoint(e.clientX, e.clientY).matrixTransform(svg.getScreenCTM().inverse());
    selectPoint(point.x, point.y, null);
  });
  svg.addEventListener("keydown", (e) => {
    const moves = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
    if (e.key === "Enter" && state.selectedPlace) { e.preventDefault(); $("location-form").requestSubmit(); return; }
    const move = moves[e.key];
    if (!move) return;
    e.preventDefault();
    const pin = $("map-pin");
    const x = Number(pin.dataset.x ?? state.town.map.width / 2);
    const y = Number(pin.dataset.y ?? state.town.map.height / 2);
    const step = e.shiftKey ? 40 : 10;
    selectPoint(x + move[0] * step, y + move[1] * step, null);
  });
}

function openLocationPicker() {
  if (!state.resident) { showError("先に住民を選んでください。"); return; }
  $("location-dialog").showModal();
}

async function submitLocation(event) {
  event.preventDefault();
  if (!state.selectedPlace) return;
  $("location-dialog").close();
  const point = state.selectedPlace;
  const action = { type: "location", latitude: point.latitude, longitude: point.longitude };
  if (point.title) action.title = point.title;
  if (point.address) action.address = point.address;
  await send(action, `位置情報：${point.title ?? "地図上の地点"}`);
}

// --- rich menu -------------------------------------------------------------------------------

function setRichMenuOpen(open) {
  $("rich-menu-panel").hidden = !open;
  $("rich-menu-bar").setAttribute("aria-expanded", String(open));
  if (open) setStickerPanelOpen(false);
}

function scheduleRichMenuRefresh() {
  clearTimeout(state.richMenuTimer);
  state.richMenuTimer = setTimeout(refreshRichMenu, 400);
}

async function refreshRichMenu() {
  if (!state.resident) return;
  const userId = state.resident.userId;
  const result = await api(`/residents/${userId}/richmenu`);
  if (state.resident?.userId !== userId) return;
  const container = $("rich-menu");
  const menu = result.ok ? result.body.richMenu : null;
  if (!menu) {
    // LINE shows a default menu as soon as the account sets one: look again until there is one.
    container.hidden = true;
    container.dataset.menuId = "";
    clearTimeout(state.richMenuTimer);
    state.richMenuTimer = setTimeout(refreshRichMenu, 2000);
    return;
  }
  // The account may switch everyone's menu at any time (disaster mode): look again now and then.
  clearTimeout(state.richMenuTimer);
  state.richMenuTimer = setTimeout(refreshRichMenu, 5000);
  if (container.dataset.menuId === menu.richMenuId) return;
  container.dataset.menuId = menu.richMenuId;
  $("rich-menu-label").textContent = menu.chatBarText || "メニュー";
  $("rich-menu-image").src = result.body.imageUrl;
  // A menu's `name` is for managing it and never shown to users (LINE): the alt names the tiles.
  const labels = (menu.areas || []).map((area) => area.action?.label).filter(Boolean);
  $("rich-menu-image").alt = labels.length ? `リッチメニュー：${labels.join("・")}` : "リッチメニュー";
  const areas = $("rich-menu-areas");
  areas.replaceChildren();
  const { width, height } = menu.size;
  for (const area of menu.areas || []) {
    const b = area.bounds;
    const button = document.createElement("button");
    button.type = "button";
    Object.assign(button.style, {
      left: `${(100 * b.x) / width}%`, top: `${(100 * b.y) / height}%`,
      width: `${(100 * b.width) / width}%`, height: `${(100 * b.height) / height}%`,
    });
    const a = area.action || {};
    button.setAttribute("aria-label", a.label || a.displayText || a.text || a.data || a.uri || "メニュー項目");
    button.addEventListener("click", () => performAction(a));
    areas.append(button);
  }
  container.hidden = false;
  setRichMenuOpen(Boolean(menu.selected));
}

// --- start --------------------------------------------------------------------------------------

async function start() {
  const [config, town, stickers] = await Promise.all([api("/config"), api("/town"), api("/stickers")]);
  if (config.ok) state.config = config.body;
  if (town.ok) { state.town = town.body; setupTownMap(); }
  if (stickers.ok) { state.stickers.push(...stickers.body.stickers); setupStickers(); }
  $("account-name").textContent = state.config.accountName;
  renderFriendship();

  $("new-resident").addEventListener("submit", createResident);
  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("message-input");
    const text = input.value;
    input.value = "";
    await sendText(text);
    input.focus();
  });
  $("photo-input").addEventListener("change", async (e) => {
    const file = e.target.files?.[0];
    e.target.value = "";
    await sendPhoto(file);
  });
  $("location-button").addEventListener("click", openLocationPicker);
  $("sticker-button").addEventListener("click", () => setStickerPanelOpen($("sticker-panel").hidden));
  $("chat").addEventListener("scroll", onChatScroll);
  $("follow-button").addEventListener("click", follow);
  $("prompt-follow").addEventListener("click", follow);
  $("block-button").addEventListener("click", block);
  $("error-close").addEventListener("click", clearError);
  $("rich-menu-bar").addEventListener("click", () => setRichMenuOpen($("rich-menu-panel").hidden));
  $("datetime-form").addEventListener("submit", submitDatetime);
  $("datetime-cancel").addEventListener("click", () => $("datetime-dialog").close());
  $("location-form").addEventListener("submit", submitLocation);
  $("location-cancel").addEventListener("click", () => $("location-dialog").close());

  await loadResidents();
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted && state.residents.some((r) => r.userId === wanted)) await openResident(wanted);
  document.body.dataset.ready = "true";
}

start();
