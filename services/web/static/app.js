/* Enhancement only: the pages say everything without it. A <time
   class="countdown" datetime="..."> gets the time left beside it, kept
   current each minute; words come from the page (data-left-* attributes). */
(function () {
  "use strict";
  function left(until, el) {
    var ms = Date.parse(until) - Date.now();
    if (isNaN(ms)) { return ""; }
    if (ms <= 0) { return el.getAttribute("data-closed") || ""; }
    var minutes = Math.floor(ms / 60000), days = Math.floor(minutes / 1440),
      hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    var text = el.getAttribute("data-left") || "%d d %h h %m min left";
    return text.replace("%d", days).replace("%h", hours).replace("%m", mins);
  }
  function update() {
    var all = document.querySelectorAll("time.countdown[datetime]");
    for (var i = 0; i < all.length; i++) {
      var el = all[i], out = el.nextElementSibling;
      if (!out || !out.classList.contains("countdown-left")) {
        out = document.createElement("span");
        out.className = "countdown-left muted";
        el.parentNode.insertBefore(out, el.nextSibling);
      }
      out.textContent = " (" + left(el.getAttribute("datetime"), el) + ")";
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", update);
  } else { update(); }
  setInterval(update, 60000);
}());
