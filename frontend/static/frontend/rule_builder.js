/* Rule editor: a visual builder for condition trees. ALL / ANY groups and NOT wrap
   conditions of the form "field operator value"; the fields, their types and the
   operators each type allows come from the server's registry (json_script tags).
   Every change is sent to the server's validator and each error is shown beside
   the condition or group it names (by JSON pointer). Nobody types JSON: the tree is
   written to a hidden field when the form is saved. */
(function () {
  "use strict";
  var root = document.getElementById("rule-builder");
  if (!root) { return; }

  function data(id, fallback) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : fallback;
  }

  var fields = data("rule-fields", []);
  var operators = data("rule-operators", {});
  var opLabels = data("rule-op-labels", {});
  var sources = data("rule-sources", {});
  var suggestions = data("rule-suggestions", {});
  var tree = data("rule-tree", { all: [] });
  var errors = data("rule-errors", []);
  var form = document.getElementById("rule-form");
  var hidden = form.querySelector("input[name=tree]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var statusEl = document.getElementById("rule-status");
  var jsonEl = document.getElementById("rule-json");
  var validateUrl = root.getAttribute("data-validate-url");

  var byName = {};
  fields.forEach(function (f) { byName[f.name] = f; });
  var views = [];  // every rendered node: {pointer, path, box, errors, inputs}

  // --- small DOM helpers ----------------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function option(value, label, title) {
    var node = el("option", { value: value, text: label });
    if (title) { node.title = title; }
    return node;
  }

  function button(label, cls, onClick, title) {
    var node = el("button", { type: "button", "class": "rb-button " + cls, text: label });
    if (title) { node.title = title; node.setAttribute("aria-label", title); }
    node.addEventListener("click", onClick);
    return node;
  }

  // --- the tree -------------------------------------------------------------------------------------------------------
  function kindOf(node) {
    if (node && typeof node === "object" && !Array.isArray(node)) {
      if ("all" in node) { return "all"; }
      if ("any" in node) { return "any"; }
      if ("not" in node) { return "not"; }
    }
    return "condition";
  }

  function getAt(path) {
    var node = tree;
    path.forEach(function (key) { node = node[key]; });
    return node;
  }

  function setAt(path, value) {
    if (!path.length) { tree = value; return; }
    getAt(path.slice(0, -1))[path[path.length - 1]] = value;
  }

  function removeAt(path) {
    var last = path[path.length - 1];
    var parentPath = path.slice(0, -1);
    if (typeof last === "number") {
      getAt(parentPath).splice(last, 1);
    } else if (last === "not" && parentPath.length) {
      removeAt(parentPath);  // a NOT goes with the only thing it holds
    }
  }

  function pointerOf(path) {
    return path.map(function (key) { return "/" + key; }).join("");
  }

  function filled(value) {
    return value !== "" && value !== null && value !== undefined;
  }

  function shapeOf(node) {
    var spec = byName[node.field];
    return spec && operators[spec.type] ? operators[spec.type][node.op] || null : null;
  }

  // The tree as the server reads it: half-typed values are left out, so the
  // validator says what is missing ("'between' needs a value").
  function clean(node) {
    var kind = kindOf(node);
    if (kind === "all" || kind === "any") {
      var group = {};
      group[kind] = Array.isArray(node[kind]) ? node[kind].map(clean) : node[kind];
      return group;
    }
    if (kind === "not") { return { not: clean(node.not) }; }
    if (!node || typeof node !== "object") { return node; }
    var leaf = { field: node.field || "", op: node.op || "" };
    var shape = shapeOf(node);
    var value = node.value;
    if (shape === "scalar" || shape === "days") {
      if (filled(value)) { leaf.value = value; }
    } else if (shape === "pair") {
      if (Array.isArray(value) && value.length === 2 && filled(value[0]) && filled(value[1])) { leaf.value = value.slice(); }
    } else if (shape === "list") {
      var items = (Array.isArray(value) ? value : []).filter(filled);
      if (items.length) { leaf.value = items; }
    } else if (shape === null && "value" in node) {
      leaf.value = value;  // an operator the registry does not know: the validator will say so
    }
    return leaf;
  }

  function defaultValue(spec, shape) {
    if (!shape || shape === "none") { return undefined; }
    if (shape === "pair") { return ["", ""]; }
    if (shape === "list") { return []; }
    if (shape === "scalar" && spec.type === "boolean") { return true; }
    return "";
  }

  // Keep what was typed when the operator changes, as far as the new shape allows.
  function convertValue(old, oldShape, spec, shape) {
    if (oldShape === shape) { return old; }
    var first = Array.isArray(old) ? old.filter(filled)[0] : old;
    if (shape === "scalar") { return filled(first) ? first : defaultValue(spec, shape); }
    if (shape === "pair") { return [filled(first) ? first : "", ""]; }
    if (shape === "list") { return filled(first) ? [first] : []; }
    if (shape === "days") { return typeof first === "number" ? first : ""; }
    return undefined;
  }

  function setValue(node, value) {
    if (value === undefined) { delete node.value; } else { node.value = value; }
  }

  // --- changes --------------------------------------------------------------------------------------------------------
  var timer = null;
  var sequence = 0;

  function status(state, message) {
    statusEl.className = "rb-status rb-status--" + state;
    statusEl.textContent = message;
  }

  function showJson() {
    if (jsonEl) { jsonEl.textContent = JSON.stringify(clean(tree), null, 2); }
  }

  function changed() {
    showJson();
    status("pending", "Checking…");
    clearTimeout(timer);
    timer = setTimeout(validate, 300);
  }

  // The tree's shape changed: old errors point at old places.
  function structural() {
    errors = [];
    render();
    changed();
  }

  function validate() {
    var mine = ++sequence;
    fetch(validateUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ tree: clean(tree) })
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (result) {
      if (mine !== sequence) { return; }
      errors = result.errors || [];
      showErrors();
    }).catch(function () {
      if (mine === sequence) { status("bad", "Could not check the rule just now; it is checked again when you save."); }
    });
  }

  function onFieldChange(path, name) {
    var node = getAt(path);
    var old = byName[node.field];
    var spec = byName[name];
    var sameKind = old && spec && old.type === spec.type && old.choices.join("|") === spec.choices.join("|");
    node.field = name;
    if (!spec) {
      node.op = "";
      delete node.value;
    } else if (!sameKind || !(node.op in operators[spec.type])) {
      node.op = Object.keys(operators[spec.type])[0];
      setValue(node, defaultValue(spec, operators[spec.type][node.op]));
    }
    structural();
  }

  function onOpChange(path, op) {
    var node = getAt(path);
    var oldShape = shapeOf(node);
    node.op = op;
    setValue(node, convertValue(node.value, oldShape, byName[node.field], shapeOf(node)));
    structural();
  }

  // --- rendering ------------------------------------------------------------------------------------------------------
  // "customer · employment type": the source stays visible once a field is chosen,
  // since customer attributes and model features can share a name.
  function fieldLabel(spec) {
    var dot = spec.name.indexOf(".");
    if (dot < 0) { return spec.name.replace(/_/g, " "); }
    return spec.name.slice(0, dot) + " · " + spec.name.slice(dot + 1).replace(/_/g, " ");
  }

  function fieldSelect(node) {
    var select = el("select", { "class": "rb-field", "aria-label": "Field" });
    select.appendChild(option("", "Choose a field…"));
    Object.keys(sources).forEach(function (source) {
      var group = el("optgroup", { label: sources[source] });
      fields.forEach(function (spec) {
        if (spec.source === source) { group.appendChild(option(spec.name, fieldLabel(spec), spec.description)); }
      });
      if (group.children.length) { select.appendChild(group); }
    });
    if (node.field && !byName[node.field]) { select.appendChild(option(node.field, node.field + " (unknown field)")); }
    select.value = node.field || "";
    return select;
  }

  function datalistFor(spec) {
    var values = suggestions[spec.name];
    if (!values || !values.length) { return null; }
    var id = "rb-suggest-" + spec.name.replace(/[^a-z0-9_-]/gi, "-");
    if (!document.getElementById(id)) {
      var list = el("datalist", { id: id });
      values.forEach(function (value) { list.appendChild(option(value, value)); });
      root.parentNode.appendChild(list);
    }
    return id;
  }

  function scalarInput(spec, value, onInput, label) {
    var input;
    if (spec.type === "boolean") {
      input = el("select", { "class": "rb-value-input" }, [option("true", "true"), option("false", "false")]);
      input.value = value === false ? "false" : "true";
      input.addEventListener("change", function () { onInput(input.value === "true"); });
    } else if (spec.choices && spec.choices.length) {
      input = el("select", { "class": "rb-value-input" }, [option("", "Choose…")]);
      spec.choices.forEach(function (choice) { input.appendChild(option(choice, choice)); });
      if (filled(value) && spec.choices.indexOf(value) < 0) { input.appendChild(option(String(value), String(value))); }
      input.value = filled(value) ? String(value) : "";
      input.addEventListener("change", function () { onInput(input.value); });
    } else if (spec.type === "number") {
      input = el("input", { type: "number", step: "any", "class": "rb-value-input rb-number" });
      input.value = filled(value) ? String(value) : "";
      input.addEventListener("input", function () {
        var text = input.value.trim();
        onInput(text === "" ? "" : Number(text));
      });
    } else if (spec.type === "date") {
      input = el("input", { type: "date", "class": "rb-value-input" });
      input.value = filled(value) ? String(value) : "";
      input.addEventListener("input", function () { onInput(input.value); });
    } else {
      input = el("input", { type: "text", "class": "rb-value-input", spellcheck: "false", autocomplete: "off" });
      var list = datalistFor(spec);
      if (list) { input.setAttribute("list", list); }
      input.value = filled(value) ? String(value) : "";
      input.addEventListener("input", function () { onInput(input.value.trim()); });
    }
    input.setAttribute("aria-label", label);
    return input;
  }

  function renderValue(box, node, spec, inputs) {
    var shape = operators[spec.type][node.op];
    if (!shape || shape === "none") { return; }
    if (shape === "scalar") {
      var single = scalarInput(spec, node.value, function (v) { node.value = v; changed(); }, "Value");
      box.appendChild(single);
      inputs.value.push(single);
    } else if (shape === "days") {
      var days = el("input", { type: "number", min: "0", max: "36500", step: "1", "class": "rb-value-input rb-days", "aria-label": "Days" });
      days.value = filled(node.value) ? String(node.value) : "";
      days.addEventListener("input", function () {
        var text = days.value.trim();
        node.value = text === "" ? "" : Number(text);
        changed();
      });
      box.appendChild(days);
      box.appendChild(el("span", { "class": "rb-word", text: node.op === "more_than_days_ago" ? "days ago" : "days" }));
      inputs.value.push(days);
    } else if (shape === "pair") {
      var pair = Array.isArray(node.value) && node.value.length === 2 ? node.value : ["", ""];
      node.value = pair;
      [0, 1].forEach(function (k) {
        if (k === 1) { box.appendChild(el("span", { "class": "rb-word", text: "and" })); }
        var input = scalarInput(spec, pair[k], function (v) { pair[k] = v; changed(); }, k ? "Highest value" : "Lowest value");
        box.appendChild(input);
        inputs.value.push(input);
      });
    } else if (shape === "list") {
      var list = Array.isArray(node.value) ? node.value : [];
      node.value = list;
      if (spec.choices && spec.choices.length) {
        inputs.listMode = "choices";
        spec.choices.forEach(function (choice) {
          var box2 = el("input", { type: "checkbox", value: choice });
          box2.checked = list.indexOf(choice) >= 0;
          box2.addEventListener("change", function () {
            var chosen = node.value;
            node.value = spec.choices.filter(function (c) { return c === choice ? box2.checked : chosen.indexOf(c) >= 0; });
            changed();
          });
          box.appendChild(el("label", { "class": "rb-choice" }, [box2, " " + choice]));
          inputs.value.push(box2);
        });
      } else {
        inputs.listMode = "inputs";
        if (!list.length) { list.push(""); }
        list.forEach(function (item, k) {
          var input = scalarInput(spec, item, function (v) { list[k] = v; changed(); }, "Value " + (k + 1));
          var wrap = el("span", { "class": "rb-list-item" }, [input]);
          if (list.length > 1) {
            wrap.appendChild(button("×", "rb-list-remove", function () { list.splice(k, 1); structural(); }, "Remove this value"));
          }
          box.appendChild(wrap);
          inputs.value.push(input);
        });
        box.appendChild(button("+ value", "rb-list-add", function () { list.push(""); structural(); }, "Add a value"));
      }
    }
  }

  function renderCondition(path, node, parentKind) {
    if (!node || typeof node !== "object") { node = { field: "", op: "" }; setAt(path, node); }
    var box = el("div", { "class": "rb-node rb-condition", "data-pointer": pointerOf(path) });
    var row = el("div", { "class": "rb-row" });
    var inputs = { field: fieldSelect(node), op: null, value: [], listMode: null };
    inputs.field.addEventListener("change", function () { onFieldChange(path, inputs.field.value); });
    row.appendChild(inputs.field);
    var spec = byName[node.field];
    if (spec) {
      var ops = operators[spec.type];
      inputs.op = el("select", { "class": "rb-op", "aria-label": "Operator" });
      Object.keys(ops).forEach(function (op) { inputs.op.appendChild(option(op, opLabels[op] || op)); });
      if (node.op && !(node.op in ops)) { inputs.op.appendChild(option(node.op, node.op + " (not for this field)")); }
      inputs.op.value = node.op || "";
      inputs.op.addEventListener("change", function () { onOpChange(path, inputs.op.value); });
      row.appendChild(inputs.op);
      var valueBox = el("span", { "class": "rb-value" });
      renderValue(valueBox, node, spec, inputs);
      row.appendChild(valueBox);
    }
    var actions = el("span", { "class": "rb-actions" });
    if (parentKind !== "not") {
      actions.appendChild(button("NOT", "rb-negate", function () { setAt(path, { not: node }); structural(); }, "Negate this condition"));
    }
    if (path.length) {
      actions.appendChild(button("Remove", "rb-remove", function () { removeAt(path); structural(); }, "Remove this condition"));
    }
    row.appendChild(actions);
    box.appendChild(row);
    if (spec && spec.description) { box.appendChild(el("div", { "class": "rb-desc", text: spec.description })); }
    var errs = el("ul", { "class": "rb-errors" });
    box.appendChild(errs);
    views.push({ pointer: pointerOf(path), path: path, box: box, errors: errs, inputs: inputs });
    return box;
  }

  function renderNode(path, node, parentKind) {
    var kind = kindOf(node);
    if (kind === "condition") { return renderCondition(path, node, parentKind); }
    var box = el("div", { "class": "rb-node rb-group rb-" + kind, "data-pointer": pointerOf(path) });
    var head = el("div", { "class": "rb-head" });
    if (kind === "not") {
      head.appendChild(el("span", { "class": "rb-tag", text: "NOT" }));
      head.appendChild(el("span", { "class": "rb-caption", text: "this must not hold:" }));
    } else {
      var match = el("select", { "class": "rb-match", "aria-label": "Match" }, [
        option("all", "ALL of these hold"),
        option("any", "ANY of these holds")
      ]);
      match.value = kind;
      match.addEventListener("change", function () {
        var replaced = {};
        replaced[match.value] = node[kind];
        setAt(path, replaced);
        structural();
      });
      head.appendChild(match);
    }
    var actions = el("span", { "class": "rb-actions" });
    if (kind === "not") {
      actions.appendChild(button("Remove NOT", "rb-unwrap", function () { setAt(path, node.not); structural(); }, "Keep what it holds, without NOT"));
    } else {
      actions.appendChild(button("+ Condition", "rb-add-condition", function () {
        node[kind].push({ field: "", op: "" });
        structural();
      }, "Add a condition to this group"));
      actions.appendChild(button("+ Group", "rb-add-group", function () {
        node[kind].push({ any: [{ field: "", op: "" }] });
        structural();
      }, "Add a group of conditions"));
      if (parentKind !== "not") {
        actions.appendChild(button("NOT", "rb-negate", function () { setAt(path, { not: node }); structural(); }, "Negate this group"));
      }
    }
    if (path.length) {
      actions.appendChild(button("Remove", "rb-remove", function () { removeAt(path); structural(); }, kind === "not" ? "Remove this NOT and what it holds" : "Remove this group"));
    }
    head.appendChild(actions);
    box.appendChild(head);
    var errs = el("ul", { "class": "rb-errors" });
    box.appendChild(errs);
    var body = el("div", { "class": "rb-children" });
    if (kind === "not") {
      body.appendChild(renderNode(path.concat(["not"]), node.not, "not"));
    } else {
      var children = Array.isArray(node[kind]) ? node[kind] : [];
      if (!Array.isArray(node[kind])) { node[kind] = children; }
      children.forEach(function (child, i) {
        if (i > 0) { body.appendChild(el("div", { "class": "rb-joiner", text: kind === "all" ? "and" : "or" })); }
        body.appendChild(renderNode(path.concat([kind, i]), child, kind));
      });
      if (!children.length) { body.appendChild(el("p", { "class": "rb-empty", text: "No conditions yet: add one with “+ Condition”." })); }
    }
    box.appendChild(body);
    views.push({ pointer: pointerOf(path), path: path, box: box, errors: errs, inputs: null });
    return box;
  }

  function render() {
    views = [];
    root.textContent = "";
    root.appendChild(renderNode([], tree, null));
    showErrors();
  }

  // Each error goes to the deepest node its pointer is inside; a condition's
  // field, operator or value input is marked too.
  function showErrors() {
    views.forEach(function (view) {
      view.errors.textContent = "";
      view.box.classList.remove("rb-invalid");
    });
    root.querySelectorAll(".rb-bad").forEach(function (input) {
      input.classList.remove("rb-bad");
      input.removeAttribute("aria-invalid");
    });
    errors.forEach(function (error) {
      var best = null;
      views.forEach(function (view) {
        var inside = error.pointer === view.pointer || error.pointer.indexOf(view.pointer + "/") === 0;
        if (inside && (!best || view.pointer.length > best.pointer.length)) { best = view; }
      });
      if (!best) { best = views[views.length - 1]; }
      var message = error.message;
      var rest = error.pointer.slice(best.pointer.length);
      if (best.inputs) {
        var node = getAt(best.path);
        var marked = [];
        if (rest === "/field") {
          marked = [best.inputs.field];
          if (!node.field) { message = "Choose a field."; }
        } else if (rest === "/op") {
          marked = [best.inputs.op];
        } else if (rest.indexOf("/value") === 0) {
          marked = best.inputs.value;
          var item = /^\/value\/(\d+)$/.exec(rest);
          if (item && best.inputs.listMode !== "choices") {
            var positions = [];
            (Array.isArray(node.value) ? node.value : []).forEach(function (v, k) { if (filled(v)) { positions.push(k); } });
            var at = best.inputs.listMode === "inputs" ? positions[+item[1]] : +item[1];
            if (best.inputs.value[at]) { marked = [best.inputs.value[at]]; }
          }
        }
        marked.forEach(function (input) {
          if (input) {
            input.classList.add("rb-bad");
            input.setAttribute("aria-invalid", "true");
          }
        });
      }
      best.errors.appendChild(el("li", { "class": "rb-error", text: message }));
      best.box.classList.add("rb-invalid");
    });
    if (errors.length) {
      status("bad", errors.length === 1 ? "1 problem to fix" : errors.length + " problems to fix");
    } else {
      status("ok", "The conditions are valid");
    }
  }

  form.addEventListener("submit", function () {
    hidden.value = JSON.stringify(clean(tree));
  });

  render();
  showJson();
  var blank = kindOf(tree) !== "condition" && kindOf(tree) !== "not" && !(tree[kindOf(tree)] || []).length;
  if (errors.length) {
    showErrors();
  } else if (blank) {
    status("idle", "Add a condition to start.");
  } else {
    validate();
  }
}());
