// Herald console: progressive enhancement only. Timestamps are shown in the
// browser's time zone with a relative age ("3 min ago"); the server's text
// (UTC) stays as the tooltip.
(function () {
  "use strict";
  function ago(ms) {
    var s = Math.round(Math.abs(ms) / 1000), future = ms < 0, v;
    if (s < 60) v = s + " s";
    else if (s < 3600) v = Math.round(s / 60) + " min";
    else if (s < 86400) v = Math.round(s / 3600) + " h";
    else v = Math.round(s / 86400) + " d";
    return future ? "in " + v : v + " ago";
  }
  function render() {
    var now = Date.now();
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      if (!el.dataset.utc) { el.dataset.utc = el.textContent; el.title = el.textContent; }
      el.textContent = d.toLocaleString() + " (" + ago(now - d.getTime()) + ")";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { render(); setInterval(render, 30000); });
})();
