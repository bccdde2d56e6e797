// The little the pages need beyond HTML: likely duplicates while a matter is typed (intake's
// look-up, with the session cookie), and the inbox live (notify's event stream, by cookie too).
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text) node.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  // -- likely duplicates while typing ---------------------------------------------------------
  var form = document.querySelector("form[data-similar]");
  if (form && form.dataset.similar) {
    var title = form.querySelector("#f-title"), description = form.querySelector("#f-description");
    var box = document.getElementById("similar"), list = document.getElementById("similar-list");
    var timer = null, asked = "";
    var look = function () {
      var query = "community=" + encodeURIComponent(form.dataset.similar) + "&title=" + encodeURIComponent(title.value.trim()) +
        "&description=" + encodeURIComponent(description.value.trim().slice(0, 500));
      if (!title.value.trim() || query === asked) return;
      asked = query;
      fetch("/api/v1/intake/proposals/similar?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { items: [] }; })
        .then(function (answer) {
          var likely = (answer.items || []).filter(function (m) { return m.score >= 0.25; });
          list.textContent = "";
          list.className = "similar";
          likely.forEach(function (m) {
            var item = el("li"), link = el("a", m.title, { href: "/matters/" + encodeURIComponent(m.id) });
            var sign = el("form", "", { method: "post", action: "/matters/" + encodeURIComponent(m.id) + "/support" });
            sign.appendChild(el("input", "", { type: "hidden", name: "csrf", value: csrf }));
            sign.appendChild(el("button", "附议", { type: "submit", "aria-label": "附议:" + m.title }));
            item.appendChild(link);
            item.appendChild(sign);
            list.appendChild(item);
          });
          box.hidden = likely.length === 0;
        })
        .catch(function () {});
    };
    var later = function () { clearTimeout(timer); timer = setTimeout(look, 400); };
    title.addEventListener("input", later);
    description.addEventListener("input", later);
    if (title.value) later();
  }

  // -- the inbox, live ----------------------------------------------------------------------------
  // Only the inbox page holds a stream open (each holds a server thread until its next write, and an
  // account may hold two): elsewhere the unread count is asked once.
  var badge = document.querySelector("[data-unread]");
  var inbox = document.querySelector("[data-live]");
  if (badge && !inbox) {
    fetch("/api/v1/notify/inbox", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (answer) { badge.textContent = answer.unread ? String(answer.unread) : ""; })
      .catch(function () {});
  }
  if (badge && inbox && window.EventSource) {
    var connect = function () {
      var stream = new EventSource("/api/v1/notify/inbox/stream");
      stream.addEventListener("unread", function (e) {
        var n = JSON.parse(e.data).unread;
        badge.textContent = n ? String(n) : "";
        document.documentElement.setAttribute("data-inbox", "live");  // connected: what comes now is new
      });
      stream.addEventListener("notification", function (e) {
        var note = JSON.parse(e.data);
        badge.textContent = String((parseInt(badge.textContent, 10) || 0) + 1);
        {
          var item = el("li", "", { class: "unread" });
          item.appendChild(el("span", "刚刚", { class: "muted" }));
          item.appendChild(el("br"));
          item.appendChild(document.createTextNode(note.body));
          inbox.insertBefore(item, inbox.firstChild);
          var empty = document.getElementById("inbox-empty");
          if (empty) empty.remove();
        }
      });
      stream.onerror = function () {
        if (stream.readyState === EventSource.CLOSED) setTimeout(connect, 15000);  // e.g. a 429: try again later
      };
    };
    connect();
  }
})();
