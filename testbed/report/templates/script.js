(function () {
  "use strict";
  // The ladder: clicking a row (or Enter/Space on it) shows its detail beside the drawing.
  function select(row) {
    var index = row.getAttribute("data-index");
    document.querySelectorAll("svg.ladder .row.selected").forEach(function (other) {
      other.classList.remove("selected");
    });
    row.classList.add("selected");
    document.querySelectorAll("section.detail").forEach(function (detail) {
      detail.hidden = detail.getAttribute("data-index") !== index;
    });
    var hint = document.getElementById("detail-hint");
    if (hint) { hint.hidden = true; }
  }
  document.querySelectorAll("svg.ladder .row").forEach(function (row) {
    row.addEventListener("click", function () { select(row); });
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(row); }
    });
  });

  // The index: filter the table by result, transport and troubleshooting row.
  var table = document.getElementById("scenarios");
  var filters = document.querySelectorAll("select[data-filter]");
  function apply() {
    var shown = 0;
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var visible = true;
      filters.forEach(function (filter) {
        var wanted = filter.value;
        if (wanted && tr.getAttribute("data-" + filter.getAttribute("data-filter")) !== wanted) {
          visible = false;
        }
      });
      tr.hidden = !visible;
      if (visible) { shown += 1; }
    });
    var counter = document.getElementById("shown");
    if (counter) { counter.textContent = String(shown); }
  }
  if (table) {
    filters.forEach(function (filter) { filter.addEventListener("change", apply); });
    apply();
  }
})();
