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

  // ---- Live updates through one connection per browser -------------------------------------
  // Browsers allow about six HTTP/1.1 connections per origin, and a held event-stream request
  // occupies one: a tab each would leave the seventh tab waiting. So the tabs of a browser
  // elect one leader with the Web Locks API; the leader alone holds a request on
  // /console/events, for every tab's topics at once, and passes the changes on a
  // BroadcastChannel. When the leader tab closes, its lock is released and another tab takes
  // over (asking every tab for its topics again). Without those APIs a tab polls on its own.
  const tail = document.getElementById("tail");
  const mine = new Map(); // topic -> generation (this tab's)
  if (live) mine.set(live.dataset.topic, live.dataset.generation);
  if (tail) mine.set(tail.dataset.topic, tail.dataset.cursor);
  if (mine.size === 0) return;
  const me = Math.random().toString(36).slice(2);
  const channel = window.BroadcastChannel ? new BroadcastChannel("slipway-live") : null;
  const subs = new Map(); // tab -> Map(topic -> generation), what the leader serves
  let leading = false;
  let wake = null; // aborts the leader's held request when the topics change

  function announce() {
    subs.set(me, new Map(mine));
    if (channel) channel.postMessage({ type: "sub", tab: me, topics: [...mine] });
    if (leading && wake) wake.abort();
  }

  async function appendTail() {
    const r = await fetch(tail.dataset.src + "?after=" + encodeURIComponent(tail.dataset.cursor), { credentials: "same-origin" });
    if (!r.ok) return;
    const answer = await r.json();
    tail.dataset.cursor = answer.cursor;
    const atEnd = tail.scrollTop + tail.clientHeight >= tail.scrollHeight - 4;
    if (answer.skipped > 0) tail.insertAdjacentText("beforeend", `… ${answer.skipped} line(s) skipped\n`);
    tail.insertAdjacentHTML("beforeend", answer.html);
    // Bounded: the oldest lines go once the page holds more than data-keep.
    const keep = Number(tail.dataset.keep) || 1000;
    const lines = tail.innerHTML.split("\n");
    if (lines.length > keep + 1) tail.innerHTML = lines.slice(lines.length - keep - 1).join("\n");
    if (atEnd) tail.scrollTop = tail.scrollHeight;
    mine.set(tail.dataset.topic, tail.dataset.cursor);
  }

  // A topic moved: refresh what shows it, then tell the leader where this tab is now.
  async function changed(topic, generation) {
    if (!mine.has(topic) || mine.get(topic) === generation) return;
    try {
      if (tail && topic === tail.dataset.topic) {
        await appendTail();
      } else {
        mine.set(topic, generation);
        await refresh();
      }
    } catch (e) { /* the next change tries again */ }
    announce();
  }

  if (channel) {
    channel.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.type === "sub") {
        subs.set(m.tab, new Map(m.topics));
        if (leading && wake) wake.abort();
      } else if (m.type === "bye") {
        subs.delete(m.tab);
      } else if (m.type === "hello") {
        announce();
      } else if (m.type === "change") {
        changed(m.topic, m.generation);
      }
    };
    window.addEventListener("pagehide", () => channel.postMessage({ type: "bye", tab: me }));
  }

  function parse(text) {
    const out = [];
    for (const block of text.split("\n\n")) {
      const data = block.split("\n").find((l) => l.startsWith("data: "));
      if (block.includes("event: change") && data) {
        try { out.push(JSON.parse(data.slice(6))); } catch (e) { /* not ours */ }
      }
    }
    return out;
  }

  async function lead() {
    leading = true;
    subs.set(me, new Map(mine));
    if (channel) channel.postMessage({ type: "hello", tab: me });
    for (;;) {
      const pairs = new Set();
      for (const topics of subs.values()) for (const [t, g] of topics) pairs.add(JSON.stringify([t, g]));
      const q = [...pairs].slice(0, 64).map((p) => {
        const [t, g] = JSON.parse(p);
        return "topic=" + encodeURIComponent(t) + "&since=" + encodeURIComponent(g);
      }).join("&");
      wake = new AbortController();
      try {
        const r = await fetch("/console/events?" + q, { credentials: "same-origin", signal: wake.signal });
        if (!r.ok) { await new Promise((f) => setTimeout(f, 2000)); continue; }
        for (const c of parse(await r.text())) {
          // Every tab watching the topic learns it moved: the others by the channel.
          for (const topics of subs.values()) if (topics.has(c.topic)) topics.set(c.topic, c.generation);
          if (channel) channel.postMessage({ type: "change", topic: c.topic, generation: c.generation });
          await changed(c.topic, c.generation);
        }
      } catch (e) {
        if (!(e && e.name === "AbortError")) await new Promise((f) => setTimeout(f, 1000));
      }
    }
  }

  announce();
  if (navigator.locks && channel) {
    navigator.locks.request("slipway-live", () => lead());
  } else {
    lead();
  }
})();
