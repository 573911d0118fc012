// The staff console's small layer over server-rendered pages (every action works without it):
// - live regions: a Server-Sent Events stream (/console/live) says "refresh" and the page fetches the changed
//   fragments; without EventSource, or after repeated stream errors, it polls every POLL_MS;
// - canned responses fill the reply box; the first error on a page takes the focus.
(function () {
  "use strict";
  var POLL_MS = 10000;

  function refresh() {
    var regions = document.querySelectorAll("[data-live-region]");
    Array.prototype.forEach.call(regions, function (region) {
      var src = region.getAttribute("data-live-src");
      fetch(src, { headers: { "X-Console-Live": region.getAttribute("data-live-region") }, credentials: "same-origin" })
        .then(function (response) {
          if (response.redirected || !response.ok) { throw new Error("session ended"); }
          return response.text();
        })
        .then(function (html) {
          if (region.innerHTML !== html) {
            var box = region.classList.contains("transcript-box") ? region : null;
            var atBottom = box && box.scrollHeight - box.scrollTop - box.clientHeight < 40;
            region.innerHTML = html;
            if (box && atBottom) { box.scrollTop = box.scrollHeight; }
          }
        })
        .catch(function () { /* the next signal or poll tries again */ });
    });
  }

  function startLive(root) {
    var url = root.getAttribute("data-live-url");
    var polling = null;
    function poll() { if (!polling) { polling = window.setInterval(refresh, POLL_MS); } }
    if (!window.EventSource) { poll(); return; }
    var errors = 0;
    var source = new EventSource(url, { withCredentials: true });
    source.addEventListener("refresh", function () { errors = 0; refresh(); });
    source.addEventListener("ended", function () { source.close(); poll(); });
    source.onopen = function () { errors = 0; };
    source.onerror = function () {
      errors += 1;
      if (errors >= 5) { source.close(); poll(); }
    };
  }

  function init() {
    var live = document.querySelector("[data-live-url]");
    if (live) { startLive(live); }
    Array.prototype.forEach.call(document.querySelectorAll(".transcript-box"), function (box) {
      box.scrollTop = box.scrollHeight;
    });
    Array.prototype.forEach.call(document.querySelectorAll("select[data-canned-target]"), function (select) {
      select.addEventListener("change", function () {
        var target = document.getElementById(select.getAttribute("data-canned-target"));
        if (target && select.value) {
          target.value = select.value;
          target.dispatchEvent(new Event("input", { bubbles: true }));
          target.focus();
        }
        select.value = "";
      });
    });
    var first = document.querySelector("[data-focus]");
    if (first) { first.focus(); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
