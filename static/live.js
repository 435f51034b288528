// Live pages (htmx-ext-sse) hold one connection each, and HTTP/1.1 gives a
// browser six per host: a page that is hidden or left (another tab, the
// back/forward cache) closes its stream, and opens it again when it is shown,
// from the last event it received; the server replays what it missed.
(function () {
  "use strict";

  // The page's current stream, as the extension opens it.
  let source = null;
  let paused = false;

  const open = htmx.createEventSource;
  htmx.createEventSource = function (url) {
    source = open(url);
    return source;
  };

  function connectElement() {
    return document.querySelector("[sse-connect], [data-sse-connect]");
  }

  // The sse-connect URL always names the last event received, for every
  // reopening: ours, the extension's after an error, htmx's history restore.
  document.addEventListener("htmx:sseMessage", function (event) {
    const id = event.detail && event.detail.lastEventId;
    const element = connectElement();
    if (!id || !element) {
      return;
    }
    const name = element.hasAttribute("sse-connect") ? "sse-connect" : "data-sse-connect";
    const url = new URL(element.getAttribute(name), location.href);
    url.searchParams.set("last_event_id", id);
    element.setAttribute(name, url.pathname + url.search);
  });

  function pause() {
    if (source && source.readyState !== EventSource.CLOSED) {
      source.close();
      paused = true;
    }
  }

  function resume() {
    if (!paused || !source || !connectElement()) {
      return;
    }
    paused = false;
    // The extension answers a closed stream's error by opening a new one
    // from the sse-connect URL and listening on it again.
    source.dispatchEvent(new Event("error"));
  }

  window.addEventListener("pagehide", pause);
  window.addEventListener("pageshow", resume);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      pause();
    } else {
      resume();
    }
  });

  // Browsers without Element.moveBefore lose the focus of a field htmx keeps
  // (hx-preserve) across a live swap; give it back where it was.
  let focused = null;
  document.addEventListener("htmx:oobBeforeSwap", function () {
    const field = document.activeElement;
    focused = field && field.id && field !== document.body
      ? { field: field, start: field.selectionStart, end: field.selectionEnd }
      : null;
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (focused && focused.field.isConnected && document.activeElement !== focused.field) {
      focused.field.focus({ preventScroll: true });
      if (typeof focused.start === "number") {
        focused.field.setSelectionRange(focused.start, focused.end);
      }
    }
    focused = null;
  });
})();
