// Medic console: live updates (Server-Sent Events) and approval countdowns.
// Everything works without it; it only keeps an open page current.
"use strict";

function countdowns() {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[data-countdown]")) {
    const left = Math.round((Date.parse(el.getAttribute("datetime")) - now) / 1000);
    if (left <= 0) { el.textContent = "expired"; continue; }
    const m = Math.floor(left / 60), s = left % 60;
    el.textContent = (m ? m + "m " : "") + s + "s left";
  }
}

async function refresh() {
  const response = await fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
  if (!response.ok) return;
  const next = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = next.querySelector("main"), old = document.querySelector("main");
  if (!fresh || !old) return;
  const open = new Set([...old.querySelectorAll("details[open][id]")].map(d => d.id));
  old.replaceWith(fresh);
  for (const id of open) { const d = document.getElementById(id); if (d) d.open = true; }
  const banner = next.querySelector("#pause-banner"), current = document.querySelector("#pause-banner");
  if (banner && current) current.replaceWith(banner);
  countdowns();
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
}

function live() {
  const body = document.body;
  if (!window.EventSource || !body.dataset.events) return;
  const source = new EventSource(body.dataset.events);
  let pending = null;
  source.addEventListener("change", () => {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 150);
  });
  source.addEventListener("open", () => { body.dataset.live = "on"; });
  source.addEventListener("error", () => {
    body.dataset.live = "reconnecting";
    // The browser retries by itself unless the server answered with an error: start over.
    if (source.readyState === EventSource.CLOSED) setTimeout(live, 3000);
  });
}

countdowns();
setInterval(countdowns, 1000);
live();
