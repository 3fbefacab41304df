// The composer of /staff/notices/notices/new: the segment builder with its live audience count,
// the interest field shown for campaigns only, and the preview as LINE shows the notice.
(function () {
  "use strict";
  var attributes = JSON.parse(document.getElementById("attributes").textContent);
  var initial = JSON.parse(document.getElementById("initial-condition").textContent) || { all: [] };
  var builder = document.getElementById("builder");
  var rows = document.getElementById("rows");
  var combinator = document.getElementById("combinator");
  var hidden = document.getElementById("condition");
  var audience = document.getElementById("audience");
  var quota = document.getElementById("quota");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var form = document.getElementById("composer");
  var counter = 0;
  var timer = null;
  var asked = 0;

  function kind() {
    var checked = form.querySelector('input[name="kind"]:checked');
    return checked ? checked.value : "campaign";
  }

  function addRow(attribute, values) {
    counter += 1;
    var id = "row-" + counter;
    var item = document.createElement("li");
    item.className = "segment-row";
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = "属性";
    var select = document.createElement("select");
    select.id = id;
    select.className = "segment-attribute";
    Object.keys(attributes).forEach(function (key) {
      var option = document.createElement("option");
      option.value = key;
      option.textContent = attributes[key].name;
      select.appendChild(option);
    });
    select.value = attribute || "district";
    var choices = document.createElement("div");
    choices.className = "segment-values";
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button button-quiet";
    remove.textContent = "この条件を外す";
    remove.addEventListener("click", function () { item.remove(); changed(); });
    function fill(selected) {
      choices.textContent = "";
      var key = select.value;
      if (key === "moved_in_within_days") {
        var input = document.createElement("input");
        input.type = "number"; input.min = "1"; input.max = "3650";
        input.value = selected || 90;
        input.setAttribute("aria-label", "転入からの日数（以内）");
        choices.appendChild(input);
        return;
      }
      attributes[key].values.forEach(function (pair) {
        var box = document.createElement("label");
        box.className = "segment-value";
        var check = document.createElement("input");
        check.type = "checkbox"; check.value = pair[0];
        check.checked = (selected || []).indexOf(pair[0]) >= 0;
        box.appendChild(check);
        box.appendChild(document.createTextNode(" " + pair[1]));
        choices.appendChild(box);
      });
    }
    select.addEventListener("change", function () { fill(null); changed(); });
    choices.addEventListener("change", changed);
    choices.addEventListener("input", changed);
    fill(values);
    item.appendChild(label); item.appendChild(select); item.appendChild(choices); item.appendChild(remove);
    rows.appendChild(item);
  }

  function condition() {
    var items = [];
    rows.querySelectorAll(".segment-row").forEach(function (row) {
      var key = row.querySelector(".segment-attribute").value;
      if (key === "moved_in_within_days") {
        var leaf = {}; leaf[key] = parseInt(row.querySelector("input").value, 10) || 0;
        items.push(leaf);
        return;
      }
      var values = Array.prototype.map.call(row.querySelectorAll("input:checked"), function (c) { return c.value; });
      var node = {}; node[key] = values;
      items.push(node);
    });
    var top = {}; top[combinator.value] = items;
    return items.length === 1 ? items[0] : top;
  }

  function count() {
    var body = { condition: condition(), kind: kind() };
    if (kind() === "campaign") { body.interest = form.elements.interest.value; }
    hidden.value = JSON.stringify(body.condition);
    var ticket = ++asked;
    fetch(builder.dataset.countUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
      if (ticket !== asked) { return; }
      audience.classList.toggle("audience-error", !answer.ok);
      if (!answer.ok) {
        audience.textContent = "この条件は使えません：" + (answer.data.error || "条件を見直してください。");
        return;
      }
      var d = answer.data;
      var text = "対象者：" + d.count.toLocaleString("ja-JP") + "人";
      var notes = [];
      if (d.opted_out) { notes.push("配信停止 " + d.opted_out.toLocaleString("ja-JP") + "人"); }
      if (d.blocked) { notes.push("ブロック " + d.blocked.toLocaleString("ja-JP") + "人"); }
      audience.textContent = text + (notes.length ? "（対象外：" + notes.join("、") + "）" : "");
      var q = d.quota;
      if (q) {
        var plan = q.limit === null ? "上限なし" : "上限 " + q.limit.toLocaleString("ja-JP") + "通";
        var over = q.limit !== null && q.used + d.count > q.limit;
        quota.textContent = "今月の送信数：" + q.used.toLocaleString("ja-JP") + "通（" + plan + "）。この配信で " +
          d.count.toLocaleString("ja-JP") + "通ふえます" + (over ? "。上限を超えるため、超えた分は届きません。" : "。");
        var c = d.cost;
        var yen = function (n) { return n.toLocaleString("ja-JP") + "円"; };
        var free = "月額" + yen(c.monthly_yen) + "のプランの無料分は月" + c.free_messages.toLocaleString("ja-JP") + "通";
        quota.textContent += c.additional_messages ?
          "料金の目安：" + free + "で、この配信のうち " + c.additional_messages.toLocaleString("ja-JP") +
            "通が追加メッセージ（1通 " + c.additional_yen.toLocaleString("ja-JP") + "円）となり、約" + yen(c.yen) + "（税別）かかります。" :
          "料金の目安：" + free + "で、この配信は無料分に収まります（追加料金なし）。";
        quota.classList.toggle("audience-error", over);
      } else {
        quota.textContent = "今月の送信数をLINEから読み取れませんでした。";
      }
    }).catch(function () {
      if (ticket === asked) { audience.textContent = "対象者を数えられませんでした。通信環境をご確認ください。"; }
    });
  }

  function changed() {
    clearTimeout(timer);
    timer = setTimeout(count, 250);
    preview();
  }

  var previewSection = document.getElementById("preview-section");
  var previewBox = document.getElementById("preview");
  var previewError = document.getElementById("preview-error");
  var imageInput = document.getElementById("f-image");
  var imageId = document.getElementById("image-id");
  var imageStatus = document.getElementById("image-status");
  var imageRemove = document.getElementById("image-remove");
  var previewTimer = null;
  var previewAsked = 0;
  var languages = Array.prototype.map.call(form.querySelectorAll("details.variant"), function (d) {
    return d.dataset.lang;
  });

  function showTemplateFields() {
    var chosen = form.elements.template.value;
    form.querySelectorAll(".template-field").forEach(function (node) {
      node.hidden = !chosen || node.dataset.templates.split(" ").indexOf(chosen) < 0;
    });
  }

  function composed() {
    var chosen = form.elements.template.value;
    var body = {
      kind: kind(), title: form.elements.title.value, texts: {}, titles: {}, fields: {},
      template: chosen || null, image_id: imageId.value || null,
      lang: document.getElementById("preview-lang").value,
    };
    languages.forEach(function (lang) {
      body.texts[lang] = form.elements["text_" + lang].value;
      if (form.elements["title_" + lang]) { body.titles[lang] = form.elements["title_" + lang].value; }
      var fields = {};
      form.querySelectorAll('.template-field:not([hidden]) input[name^="field_' + lang + '_"]').forEach(function (input) {
        if (input.value.trim()) { fields[input.name.slice(("field_" + lang + "_").length)] = input.value; }
      });
      if (chosen && Object.keys(fields).length) { body.fields[lang] = fields; }
    });
    return body;
  }

  function draw() {
    var ticket = ++previewAsked;
    fetch(previewSection.dataset.previewUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(composed()),
      credentials: "same-origin",
    }).then(function (response) { return response.json(); }).then(function (data) {
      if (ticket !== previewAsked) { return; }
      previewError.hidden = !data.error;
      previewError.textContent = data.error ? "このままでは送れません：" + data.error : "";
      if (window.cityhallPreview && data.messages) { window.cityhallPreview(previewBox, data.messages); }
    }).catch(function () {
      if (ticket === previewAsked) {
        previewError.hidden = false;
        previewError.textContent = "プレビューを作れませんでした。通信環境をご確認ください。";
      }
    });
  }

  function preview() {
    document.getElementById("interest-field").hidden = kind() === "alert";
    showTemplateFields();
    clearTimeout(previewTimer);
    previewTimer = setTimeout(draw, 300);
  }

  imageInput.addEventListener("change", function () {
    var file = imageInput.files[0];
    if (!file) { return; }
    var data = new FormData();
    data.append("image", file);
    imageStatus.textContent = "画像を送っています…";
    fetch(previewSection.dataset.uploadUrl, {
      method: "POST", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: data, credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (d) { return { ok: response.ok, data: d }; });
    }).then(function (answer) {
      imageInput.value = "";  // sent already: the form carries its id
      if (!answer.ok) {
        imageStatus.textContent = answer.data.error || "画像を受け付けられませんでした。";
        return;
      }
      imageId.value = answer.data.image_id;
      imageStatus.textContent = "画像を添付しました（" + answer.data.width + "×" + answer.data.height + "）。";
      imageRemove.hidden = false;
      preview();
    }).catch(function () { imageStatus.textContent = "画像を送れませんでした。通信環境をご確認ください。"; });
  });
  imageRemove.addEventListener("click", function () {
    imageId.value = "";
    imageStatus.textContent = "画像を外しました。";
    imageRemove.hidden = true;
    preview();
  });
  document.addEventListener("cityhall-preview-ready", preview);

  var top = Object.keys(initial)[0];
  if (top === "all" || top === "any") {
    combinator.value = top;
    initial[top].forEach(function (leaf) {
      var key = Object.keys(leaf)[0];
      if (attributes[key]) { addRow(key, leaf[key]); }
    });
  } else if (top && attributes[top]) {
    addRow(top, initial[top]);
  }
  document.getElementById("add-row").addEventListener("click", function () { addRow("district", []); changed(); });
  combinator.addEventListener("change", changed);
  form.addEventListener("input", function (event) {
    if (!builder.contains(event.target)) { changed(); }
  });
  form.addEventListener("change", function (event) {
    if (!builder.contains(event.target)) { changed(); }
  });
  form.addEventListener("submit", function () { hidden.value = JSON.stringify(condition()); });
  changed();
})();
