/* Trigger editor: shows the fields of the kind chosen for each condition, and sends
   the form to the server's validator as it changes; each error appears beside the
   field it names, and a summary in words says what the trigger will fire on. */
(function () {
  "use strict";
  var form = document.getElementById("trigger-form");
  if (!form) { return; }
  var url = form.getAttribute("data-validate-url");
  var general = document.getElementById("trigger-general");
  var summary = document.getElementById("trigger-summary");
  var timer = null;

  function showKinds() {
    form.querySelectorAll("fieldset.trigger-condition").forEach(function (box) {
      var kind = box.querySelector("select.trigger-kind").value;
      box.querySelectorAll(".trigger-params").forEach(function (panel) {
        var on = panel.getAttribute("data-kind") === kind;
        panel.hidden = !on;
        // Hidden panels are not sent: only the chosen kind's fields make the definition.
        panel.querySelectorAll("input, select").forEach(function (input) { input.disabled = !on; });
      });
    });
  }

  function list(node, messages) {
    node.innerHTML = "";
    messages.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      node.appendChild(li);
    });
    node.hidden = messages.length === 0;
  }

  function show(result) {
    form.querySelectorAll("[data-errors-for]").forEach(function (node) {
      var name = node.getAttribute("data-errors-for");
      var messages = (result.errors && result.errors[name]) || [];
      list(node, messages);
      var field = document.getElementById("field-" + name);
      if (field) { field.classList.toggle("has-error", messages.length > 0); }
    });
    list(general, result.general || []);
    summary.textContent = result.valid && result.summary ? "Fires on: " + result.summary + "." : "";
  }

  function validate() {
    var body = new FormData(form);
    fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (result) { if (result) { show(result); } })
      .catch(function () { /* the server checks again on save */ });
  }

  function changed() {
    showKinds();
    window.clearTimeout(timer);
    timer = window.setTimeout(validate, 250);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  showKinds();
  if (form.querySelector("select.trigger-kind").value) { validate(); }
})();
