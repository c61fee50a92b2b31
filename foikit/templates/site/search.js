// Filters the list of responses from the index embedded in the page: no network, works from file://.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("index-data").textContent);
  var form = document.getElementById("filters");
  var rows = document.querySelectorAll("#responses tbody tr");
  var count = document.getElementById("count");
  var names = ["q", "ref", "dataset", "from", "to"];
  function norm(s) { return String(s).toLowerCase(); }
  function values() {
    var v = {};
    names.forEach(function (n) { v[n] = form.elements[n].value.trim(); });
    return v;
  }
  function matches(r, v) {
    var text = norm([r.ref, r.title, r.dataset, r.periods.join(" ")].join(" "));
    var words = norm(v.q).split(/\s+/).filter(function (w) { return w; });
    if (!words.every(function (w) { return text.indexOf(w) >= 0; })) { return false; }
    if (v.ref && norm(r.ref).indexOf(norm(v.ref)) < 0) { return false; }
    if (v.dataset && r.dataset !== v.dataset) { return false; }
    if (v.from && r.published < v.from) { return false; }
    if (v.to && r.published > v.to) { return false; }
    return true;
  }
  function apply(push) {
    var v = values(), shown = 0;
    data.forEach(function (r, i) {
      var ok = matches(r, v);
      rows[i].hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown === data.length ? "Showing all " + data.length + " responses."
      : "Showing " + shown + " of " + data.length + " responses.";
    if (push) {
      var query = new URLSearchParams();
      names.forEach(function (n) { if (v[n]) { query.set(n, v[n]); } });
      var qs = query.toString();
      try { history.replaceState(null, "", qs ? "?" + qs : location.pathname); } catch (e) { /* file:// */ }
    }
  }
  var given = new URLSearchParams(location.search);
  names.forEach(function (n) { if (given.has(n)) { form.elements[n].value = given.get(n); } });
  form.addEventListener("input", function () { apply(true); });
  form.addEventListener("change", function () { apply(true); });
  form.addEventListener("submit", function (e) { e.preventDefault(); apply(true); });
  apply(false);
}());
