// Small helpers for staff pages (loaded by kit/base.html after htmx).
//
// - An htmx request that fails (4xx/5xx) shows the server's message in a notice at the top of
//   <main> (role="alert", so screen readers announce it) instead of failing silently: the
//   message is the error page's heading or the JSON body's "detail".
// - A 409 answer (someone else decided first) is shown the same way.
(function () {
  "use strict";

  function messageOf(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    try {
      if (type.indexOf("application/json") === 0) {
        var detail = JSON.parse(xhr.responseText).detail;
        if (typeof detail === "string") { return detail; }
      } else {
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var title = doc.getElementById("error-title");
        if (title) { return title.textContent.trim(); }
      }
    } catch (e) { /* fall through */ }
    return "操作を完了できませんでした。ページを再読み込みしてもう一度お試しください。";
  }

  function showAlert(text) {
    var main = document.getElementById("main");
    if (!main) { return; }
    var box = document.getElementById("kit-alert");
    if (!box) {
      box = document.createElement("p");
      box.id = "kit-alert";
      box.className = "notice notice-error";
      box.setAttribute("role", "alert");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text;
  }

  document.addEventListener("htmx:responseError", function (event) {
    showAlert(messageOf(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function () {
    showAlert("サーバーに接続できませんでした。通信環境をご確認ください。");
  });
})();
