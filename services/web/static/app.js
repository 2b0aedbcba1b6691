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
/* Enhancement only: a button[data-add-row="<id of the rows>"] adds a blank
   copy of the last row at once, renumbered (name, id, for, aria-describedby:
   "<list>-<n>-<field>"; the legend from data-row-legend, "#" the number).
   Without script the button asks the server for the form with one more row. */
(function () {
  "use strict";
  var NUMBERED = /^([A-Za-z]+)-\d+-/;
  function renumber(el, n) {
    ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
      var value = el.getAttribute(attr);
      if (value) { el.setAttribute(attr, value.replace(NUMBERED, "$1-" + n + "-")); }
    });
  }
  function addRow(event) {
    var button = event.currentTarget,
      list = document.getElementById(button.getAttribute("data-add-row"));
    var rows = list ? list.querySelectorAll(".row") : [];
    if (!rows.length) { return; }
    event.preventDefault();
    var n = rows.length, row = rows[n - 1].cloneNode(true);
    var all = row.querySelectorAll("[name], [id], [for]");
    for (var i = 0; i < all.length; i++) {
      renumber(all[i], n);
      if (all[i].tagName === "INPUT") { all[i].value = ""; all[i].removeAttribute("aria-invalid"); }
    }
    var legend = row.querySelector("legend"), words = list.getAttribute("data-row-legend");
    if (legend && words) { legend.textContent = words.replace("#", String(n + 1)); }
    list.appendChild(row);
    var first = row.querySelector("input");
    if (first) { first.focus(); }
  }
  function start() {
    var buttons = document.querySelectorAll("button[data-add-row]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].addEventListener("click", addRow); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else { start(); }
}());
