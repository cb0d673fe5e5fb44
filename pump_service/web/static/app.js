// Every fetch from a page carries the session's CSRF token (the API refuses a cookie-authenticated
// change without it).
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta ? meta.getAttribute("content") : "";
  window.pumpFetch = function (url, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ "X-CSRF-Token": token, Accept: "application/json" }, opts.headers || {});
    return fetch(url, opts);
  };
})();
