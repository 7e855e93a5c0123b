// The bank's website side of GET /api/v1/web-content: fetch the customer's content
// for a slot and show it. `title` is plain text (set as text); `html` is a fragment
// whose values Crossell has escaped, with the disclosures included.
(function () {
  "use strict";
  const form = document.getElementById("web-content-form");
  const banner = document.getElementById("banner");
  const status = document.getElementById("status");

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function showDefault() {
    banner.className = "banner banner--default";
    banner.replaceChildren();
    const h = document.createElement("h2");
    h.textContent = "Welcome back";
    const p = document.createElement("p");
    p.textContent = "No offer for this customer in this slot now: the slot's default content stays.";
    banner.append(h, p);
  }

  function showOffer(content) {
    banner.className = "banner";
    banner.dataset.offer = content.offer_code;
    banner.dataset.messageId = content.message_id;
    banner.replaceChildren();
    const h = document.createElement("h2");
    h.textContent = content.title;
    const body = document.createElement("div");
    body.innerHTML = content.html; // escaped by Crossell
    banner.append(h, body);
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const params = new URLSearchParams({
      customer_id: form.elements.customer_id.value.trim(),
      slot: form.elements.slot.value.trim(),
    });
    const headers = { Accept: "application/json" };
    const token = form.elements.token.value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    say("Asking Crossell…");
    try {
      const response = await fetch(form.dataset.api + "?" + params.toString(), {
        headers: headers,
        credentials: token ? "omit" : "same-origin",
      });
      if (response.status === 204) {
        showDefault();
        say("No offer (204).");
        return;
      }
      const body = await response.json();
      if (!response.ok) {
        const details = (body.errors || []).map(function (e) { return e.pointer + ": " + e.detail; });
        say(body.title + " (" + response.status + "): " + (details.join("; ") || body.detail), true);
        return;
      }
      showOffer(body);
      say("Offer " + body.offer_code + " shown; impression recorded (decision " + body.decision_id + ").");
    } catch (err) {
      say("Crossell could not be reached: " + err.message, true);
    }
  });
})();
