// The web report chat (/reportar), enhanced: every form also works as a plain post without this script.
// - chat forms are posted with fetch and the transcript (#chat) is swapped in place (no reload);
// - a tap on the map sends that point (lat/lon computed here from the bounding box) and shows a marker;
// - "Usar mi ubicación" asks the browser (navigator.geolocation) and sends the point;
// - a long poll (GET /reportar/chat?after=N) shows replies and status updates as they are sent.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.FormData) { return; }

  function freshNonce() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function renewNonces() {
    var inputs = document.querySelectorAll("[data-nonce]");
    var nonce = freshNonce();
    for (var i = 0; i < inputs.length; i++) { inputs[i].value = nonce; }
  }

  var polling = null;

  function swapChat(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("chat");
    var current = document.getElementById("chat");
    if (!fresh || !current) { return false; }
    current.parentNode.replaceChild(fresh, current);
    renewNonces();
    var last = document.getElementById("error") || document.getElementById("ultimo");
    if (last && last.scrollIntoView) { last.scrollIntoView({ block: "nearest" }); }
    if (document.getElementById("error")) { document.getElementById("error").focus(); }
    poll();
    return true;
  }

  function send(form, extra) {
    var data = new FormData(form);
    if (extra) { for (var k in extra) { if (Object.prototype.hasOwnProperty.call(extra, k)) { data.set(k, extra[k]); } } }
    var buttons = form.querySelectorAll("button, input[type=image]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
    return fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (resp) { return resp.text().then(function (text) { return { resp: resp, text: text }; }); })
      .then(function (r) {
        if (!swapChat(r.text)) { document.open(); document.write(r.text); document.close(); return; }
        if (r.resp.ok && !document.getElementById("error") && form.reset) { form.reset(); renewNonces(); }
      })
      .catch(function () { form.submit(); })
      .then(function () { for (var j = 0; j < buttons.length; j++) { buttons[j].disabled = false; } });
  }

  var lastClicked = null;  // browsers without SubmitEvent.submitter: the submit button last clicked
  document.addEventListener("click", function (event) {
    var t = event.target;
    if (t && t.type === "submit" && t.form) { lastClicked = t; }
  }, true);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-chat-form")) { return; }
    event.preventDefault();
    var extra = null;
    var submitter = event.submitter || (lastClicked && lastClicked.form === form ? lastClicked : null);
    if (submitter && submitter.name && submitter.type !== "image") { extra = {}; extra[submitter.name] = submitter.value; }
    send(form, extra);
  });

  function mapForm() { return document.querySelector("[data-map-form]"); }

  function sendPoint(lat, lon) {
    var form = mapForm();
    form.querySelector("[data-lat]").value = lat.toFixed(6);
    form.querySelector("[data-lon]").value = lon.toFixed(6);
    var img = form.querySelector(".map-picker");
    img.src = "/reportar/mapa.svg?lat=" + lat.toFixed(5) + "&lon=" + lon.toFixed(5);
    send(form, null);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.classList && target.classList.contains("map-picker")) {
      event.preventDefault();
      var form = mapForm();
      var box = form.getAttribute("data-bbox").split(",").map(Number);  // south, west, north, east
      var rect = target.getBoundingClientRect();
      var x = (event.clientX - rect.left) / rect.width;
      var y = (event.clientY - rect.top) / rect.height;
      if (x < 0 || x > 1 || y < 0 || y > 1) { return; }
      sendPoint(box[2] - (box[2] - box[0]) * y, box[1] + (box[3] - box[1]) * x);
    } else if (target.hasAttribute && target.hasAttribute("data-geolocate")) {
      var status = document.querySelector("[data-geo-status]");
      status.textContent = "Buscando tu ubicación…";
      navigator.geolocation.getCurrentPosition(function (pos) {
        status.textContent = "";
        sendPoint(pos.coords.latitude, pos.coords.longitude);
      }, function () {
        status.textContent = "No pudimos obtener tu ubicación. Toca el mapa o escribe la dirección.";
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    }
  });

  function poll() {
    var chat = document.getElementById("chat");
    if (!chat) { return; }
    if (polling) { polling.abort(); }
    var ctrl = window.AbortController ? new AbortController() : null;
    polling = ctrl;
    var url = chat.getAttribute("data-chat-url");
    fetch(url, { credentials: "same-origin", signal: ctrl ? ctrl.signal : undefined })
      .then(function (resp) {
        if (resp.status === 200) { return resp.text().then(function (t) { if (polling === ctrl) { swapChat(t); } }); }
        if (resp.status === 204 && polling === ctrl) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { if (polling === ctrl) { window.setTimeout(poll, 10000); } });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var geo = document.querySelector("[data-geolocate]");
    if (geo && navigator.geolocation) { geo.hidden = false; }
    renewNonces();
    poll();
  });
})();
