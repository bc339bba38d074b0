// Slipway console: actions without a page load, and live regions kept fresh from the server's
// event stream (/console/events). Everything works without this script, only less live.
"use strict";
(() => {
  const live = document.getElementById("live");
  const status = document.getElementById("status");
  let pending = false;

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.className = bad ? "error" : "ok";
  }

  // A comment being typed is not wiped by a refresh: wait until the field loses focus.
  function typing() {
    const a = document.activeElement;
    return a && live && live.contains(a) && (a.tagName === "TEXTAREA" || a.tagName === "INPUT") && a.value !== "";
  }

  async function refresh() {
    if (!live) return;
    if (typing()) { pending = true; return; }
    pending = false;
    const r = await fetch(live.dataset.src, { credentials: "same-origin" });
    if (r.ok) live.innerHTML = await r.text();
  }

  document.addEventListener("focusout", () => { if (pending) setTimeout(refresh, 0); });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-live")) return;
    ev.preventDefault();
    const body = new URLSearchParams(new FormData(form, ev.submitter));
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      // `form.action` would be the field named "action" when there is one.
      const r = await fetch(form.getAttribute("action"), {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-Slipway-Console": "fetch" },
      });
      const answer = await r.json();
      say(r.ok ? answer.message : "Refused: " + answer.message, !r.ok);
      if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
      await refresh();
    } catch (e) {
      say("The action could not be sent: " + e.message, true);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  if (live && window.EventSource) {
    const url = "/console/events?topic=" + encodeURIComponent(live.dataset.topic) +
      "&since=" + encodeURIComponent(live.dataset.generation);
    const events = new EventSource(url);
    events.addEventListener("change", () => { refresh().catch(() => {}); });
  }
})();
