// Reporta's own script: a thin layer on server-rendered pages (every page works without it).
// htmx (bundled, web/static/vendor) sends the CSRF token of the page's <meta name="csrf-token"> on its requests.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
});
