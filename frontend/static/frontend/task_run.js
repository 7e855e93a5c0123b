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

  function when(value) {
    return value ? new Date(value).toLocaleString() : "";
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
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (run) {
        render(run);
        if (finished.indexOf(run.state) < 0) { window.setTimeout(poll, 2000); }
      })
      .catch(function () {
        text("poll_status", "Lost contact with the server; retrying.");
        window.setTimeout(poll, 2000);
      });
  }

  if (finished.indexOf(root.getAttribute("data-state")) < 0) { window.setTimeout(poll, 2000); }
}());
