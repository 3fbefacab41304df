// Live updates for staff pages (no dependencies besides the browser's EventSource).
//
// An element with data-live-url="<SSE stream>" listens to that stream; each `update` event
// dispatches a "live-update" DOM event on the element, so
//   <section data-live-url="live" hx-get="rows" hx-trigger="live-update">…</section>
// re-fetches its fragment with htmx. An element with data-live-status (anywhere on the page)
// shows the connection state in words. Streams close when the page is left.
(function () {
  "use strict";
  var sources = [];

  function setStatus(text) {
    document.querySelectorAll("[data-live-status]").forEach(function (el) { el.textContent = text; });
  }

  function connect(el) {
    if (el.cityhallLive) { return; }
    var source = new EventSource(el.getAttribute("data-live-url"), { withCredentials: true });
    el.cityhallLive = source;
    sources.push(source);
    source.addEventListener("open", function () { setStatus("自動更新中"); });
    source.addEventListener("update", function () {
      el.dispatchEvent(new CustomEvent("live-update", { bubbles: false }));
    });
    source.addEventListener("error", function () {
      setStatus(source.readyState === EventSource.CLOSED ? "自動更新が停止しました（再読み込みしてください）" : "再接続しています…");
    });
  }

  function scan(root) {
    if (root.matches && root.matches("[data-live-url]")) { connect(root); }
    if (root.querySelectorAll) { root.querySelectorAll("[data-live-url]").forEach(connect); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    scan(document);
    if (window.htmx) { window.htmx.onLoad(scan); }
  });
  window.addEventListener("pagehide", function () {
    sources.forEach(function (s) { s.close(); });
    sources = [];
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("[data-live-url]").forEach(function (el) { el.cityhallLive = null; });
    scan(document);
  });
})();
