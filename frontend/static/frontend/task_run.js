/* Task run page: ask the API for the run's state every 2 seconds until it finishes. */
(function () {
  "use strict";
  var root = document.getElementById("task-run");
  if (!root) { return; }
  var url = root.getAttribute("data-poll-url");
  var finished = ["success", "failure", "lost"];
  var labels = { pending: "Queued", started: "Running", retry: "Retrying", success: "Succeeded", failure: "Failed", lost: "Lost (no progress)" };

  function text(name, value) {
    var el = root.querySelector("[data-field='" + name + "']");
    if (el) { el.textContent = value === null || value === undefined || value === "" ? "—" : value; }
    return el;
  }

  function status(message) {
    var el = root.querySelector("[data-field='poll_status']");
    if (el) { el.textContent = message; }
  }

  // Same shape as the server's dates ("24 Nov 2026, 18:03:49"), and like them in UTC.
  var dateFormat = { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false, timeZone: "UTC" };

  function when(value) {
    return value ? new Date(value).toLocaleString("en-GB", dateFormat) : "";
  }

  // Mirrors the server's "seconds" template filter.
  function duration(run) {
    if (!run.started_at) { return ""; }
    var end = run.finished_at ? new Date(run.finished_at) : new Date();
    var value = (end - new Date(run.started_at)) / 1000;
    if (value < 10) { return value.toFixed(1) + " s"; }
    var total = Math.round(value);
    if (total < 60) { return total + " s"; }
    var minutes = Math.floor(total / 60);
    if (minutes < 60) { return minutes + " min " + (total % 60) + " s"; }
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function render(run) {
    var badge = text("state", labels[run.state] || run.state);
    if (badge) { badge.className = "badge badge--" + run.state; }
    text("done", run.done.toLocaleString());
    text("total", run.total === null ? "" : run.total.toLocaleString());
    text("percent", run.percent === null ? "" : run.percent + "%");
    text("message", run.message);
    text("started_at", when(run.started_at));
    text("finished_at", when(run.finished_at));
    text("attempts", run.attempts);
    text("duration", duration(run));
    var pending = root.querySelector("[data-field='pending_note']");
    if (pending) { pending.hidden = finished.indexOf(run.state) >= 0 || !!run.error || run.result !== null; }
    var bar = root.querySelector(".progress");
    if (bar) {
      bar.classList.toggle("indeterminate", run.percent === null && finished.indexOf(run.state) < 0);
      bar.classList.toggle("done", run.state === "success");
      bar.classList.toggle("failed", run.state === "failure" || run.state === "lost");
      var width = run.percent === null ? (finished.indexOf(run.state) >= 0 ? 100 : null) : run.percent;
      bar.firstElementChild.style.width = width === null ? "" : width + "%";
    }
    var error = root.querySelector("[data-field='error']");
    if (error) { error.textContent = run.error; error.hidden = !run.error; }
    var result = root.querySelector("[data-field='result']");
    if (result) {
      result.textContent = run.result === null ? "" : JSON.stringify(run.result, null, 2);
      result.hidden = run.result === null;
    }
    root.setAttribute("data-state", run.state);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status >= 400 && response.status < 500) {
          // Signed out, or the run is gone: asking again will not help.
          status("Stopped updating (HTTP " + response.status + "); reload the page.");
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (run) {
        if (run === null) { return; }
        status("");
        render(run);
        if (finished.indexOf(run.state) < 0) { window.setTimeout(poll, 2000); }
      })
      .catch(function () {
        status("Lost contact with the server; retrying.");
        window.setTimeout(poll, 2000);
      });
  }

  if (finished.indexOf(root.getAttribute("data-state")) < 0) { window.setTimeout(poll, 2000); }
}());
