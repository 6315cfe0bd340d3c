// capstan status page: keeps the server-rendered page live. Plain browser
// JavaScript, no build step. The server stays the only renderer: on a change
// this re-fetches the page it is on and swaps the live regions' contents.
// Loaded with the CSP nonce; it adds no inline script or handler attributes.
"use strict";

(function () {
  const regionSelector = "[data-live-region][id]";
  let fetching = false;
  let again = false;
  let deferred = false;

  // A region the user is typing in (a token in a rollback form) is left alone until they are done.
  function busy(region) {
    const active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) return true;
    for (const input of region.querySelectorAll("input[type=password]")) if (input.value) return true;
    return false;
  }

  async function refresh() {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      const response = await fetch(window.location.href, { headers: { accept: "text/html" }, credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      const next = new DOMParser().parseFromString(await response.text(), "text/html");
      deferred = false;
      for (const region of document.querySelectorAll(regionSelector)) {
        const fresh = next.getElementById(region.id);
        if (!fresh || !fresh.hasAttribute("data-live-region")) continue;
        if (busy(region)) {
          deferred = true;
          continue;
        }
        if (region.innerHTML !== fresh.innerHTML) region.innerHTML = fresh.innerHTML;
        for (const attribute of fresh.attributes) region.setAttribute(attribute.name, attribute.value);
      }
      document.body.dataset.refreshed = String(Date.now());
    } catch (error) {
      // The next change or reconnect tries again.
    } finally {
      fetching = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  // Sections skipped while in use catch up as soon as the user leaves them.
  document.addEventListener("focusout", function () {
    if (deferred) setTimeout(refresh, 0);
  });

  function connect() {
    // An action's answer page has nothing live to refresh: no stream for it.
    if (!("EventSource" in window) || !document.querySelector(regionSelector)) return;
    const source = new EventSource("/api/events/stream");
    source.addEventListener("open", function () {
      document.body.dataset.live = "connected";
      // Whatever changed while no stream was open (between the page's HTML and this stream, or
      // during a restart or a proxy's error page) was never announced: read the page once now.
      refresh();
    });
    source.addEventListener("change", function () {
      refresh();
    });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself after the server's `retry` (1 s); it gives up only on a non-stream answer.
      document.body.dataset.live = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
