/* robustperf leaderboard: sorting and filtering of the results tables, and the charts.
 *
 * Hand-written, no framework. Tables with class "sortable" sort by a header click: each cell's data-value holds
 * the full-precision number (or the text) to compare; empty values stay last in both directions; the first click
 * sorts in the header's data-first direction ("asc" or "desc"), the next one reverses it. Selects with
 * data-filter="NAME" hide the rows whose data-NAME differs from the chosen value ("" shows all). A div with
 * data-figure="ID" is drawn by Plotly.newPlot from the JSON in <script type="application/json" id="ID">; a click
 * on a point opens the page in its customdata.
 */
(function () {
  "use strict";

  function compare(a, b, numeric) {
    if (numeric) {
      return parseFloat(a) - parseFloat(b);
    }
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  }

  function sortBy(table, header) {
    var headers = Array.prototype.slice.call(header.parentNode.children);
    var index = headers.indexOf(header);
    var numeric = header.getAttribute("data-type") === "number";
    var current = header.getAttribute("aria-sort");
    var first = header.getAttribute("data-first") === "desc" ? "descending" : "ascending";
    var direction = current === "none" || !current ? first : (current === "ascending" ? "descending" : "ascending");
    var sign = direction === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, position) {
      var cell = row.cells[index];
      var value = cell ? (cell.getAttribute("data-value") !== null ? cell.getAttribute("data-value")
                                                                   : cell.textContent.trim()) : "";
      return {row: row, value: value, position: position};
    });
    rows.sort(function (a, b) {
      var emptyA = a.value === "", emptyB = b.value === "";
      if (emptyA || emptyB) {
        return emptyA === emptyB ? a.position - b.position : (emptyA ? 1 : -1);
      }
      return sign * compare(a.value, b.value, numeric) || a.position - b.position;
    });
    rows.forEach(function (item) { body.appendChild(item.row); });
    headers.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
    header.setAttribute("aria-sort", direction);
  }

  function applyFilters(table) {
    var selects = document.querySelectorAll("select[data-filter]");
    var wanted = {};
    Array.prototype.forEach.call(selects, function (select) {
      wanted[select.getAttribute("data-filter")] = select.value;
    });
    var shown = 0, total = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var visible = Object.keys(wanted).every(function (name) {
        return wanted[name] === "" || row.getAttribute("data-" + name) === wanted[name];
      });
      row.hidden = !visible;
      total += 1;
      shown += visible ? 1 : 0;
    });
    var count = document.getElementById("shown-count");
    if (count) {
      count.textContent = shown + " of " + total + " results shown";
    }
  }

  function drawCharts() {
    var charts = document.querySelectorAll("[data-figure]");
    if (!charts.length || typeof window.Plotly === "undefined") {
      return;
    }
    Array.prototype.forEach.call(charts, function (div) {
      var source = document.getElementById(div.getAttribute("data-figure"));
      if (!source) {
        return;
      }
      var figure = JSON.parse(source.textContent);
      var config = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"]};
      window.Plotly.newPlot(div, figure.data, figure.layout, config).then(function (plot) {
        plot.on("plotly_click", function (event) {
          var target = event && event.points && event.points[0] && event.points[0].customdata;
          if (typeof target === "string" && target && !/^[a-z][a-z0-9+.-]*:/i.test(target)) {
            window.location.href = target;
          }
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
        header.addEventListener("click", function () { sortBy(table, header); });
      });
      Array.prototype.forEach.call(document.querySelectorAll("select[data-filter]"), function (select) {
        select.addEventListener("change", function () { applyFilters(table); });
      });
      applyFilters(table);
    });
    drawCharts();
  });
}());
