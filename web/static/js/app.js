// Chatmina admin UI: progressive enhancement only. Every page works without this file.
//  - [data-copy="TEXT"] / [data-copy-target="#id"] buttons copy to the clipboard
//  - form[data-confirm="message"] asks for confirmation before submitting
//  - [data-dismiss] buttons remove their flash message ([data-dismissible] ancestor)

const COPIED_MS = 1600;

// Controls that only make sense with JavaScript may be rendered with `hidden`.
for (const el of document.querySelectorAll(
  "[data-copy][hidden], [data-copy-target][hidden], [data-dismiss][hidden]",
)) {
  el.hidden = false;
}

let liveRegion = null;

function announce(message) {
  if (!liveRegion) {
    liveRegion = document.createElement("div");
    liveRegion.className = "visually-hidden";
    liveRegion.setAttribute("role", "status");
    liveRegion.setAttribute("aria-live", "polite");
    document.body.append(liveRegion);
  }
  liveRegion.textContent = "";
  window.setTimeout(() => {
    liveRegion.textContent = message;
  }, 50);
}

function textToCopy(button) {
  if (button.hasAttribute("data-copy")) {
    return button.getAttribute("data-copy");
  }
  const selector = button.getAttribute("data-copy-target");
  let target = null;
  try {
    target = selector ? document.querySelector(selector) : null;
  } catch {
    target = null; // invalid selector
  }
  if (!target) {
    return null;
  }
  return "value" in target && typeof target.value === "string" ? target.value : target.textContent.trim();
}

function legacyCopy(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the legacy path (e.g. permission denied)
    }
  }
  return legacyCopy(text);
}

const restoreTimers = new WeakMap();

function flashLabel(button, text, ok) {
  const label = button.querySelector("[data-copy-label]") || button;
  const pending = restoreTimers.get(button);
  if (pending) {
    window.clearTimeout(pending.timer);
  } else {
    restoreTimers.set(button, { nodes: [...label.childNodes].map((n) => n.cloneNode(true)) });
  }
  const state = restoreTimers.get(button);
  if (label === button) {
    // keep any icon, replace only the text
    const icon = button.querySelector("svg");
    label.replaceChildren(...(icon ? [icon.cloneNode(true)] : []), document.createTextNode(text));
  } else {
    label.textContent = text;
  }
  button.classList.toggle("is-copied", ok);
  state.timer = window.setTimeout(() => {
    label.replaceChildren(...state.nodes.map((n) => n.cloneNode(true)));
    button.classList.remove("is-copied");
    restoreTimers.delete(button);
  }, COPIED_MS);
}

async function handleCopy(button) {
  const text = textToCopy(button);
  if (text === null) {
    return;
  }
  const ok = await writeClipboard(text);
  flashLabel(button, ok ? "Copied" : "Copy failed", ok);
  announce(ok ? "Copied to clipboard" : "Could not copy to the clipboard");
}

function handleDismiss(button) {
  const message = button.closest("[data-dismissible]") || button.parentElement;
  if (!message) {
    return;
  }
  const container = message.parentElement;
  message.remove();
  if (container && container.classList.contains("flashes") && !container.querySelector("[data-dismissible]")) {
    container.remove();
  }
  // Focus was on the removed button; put it somewhere sensible.
  const main = document.getElementById("main");
  if (main) {
    main.focus({ preventScroll: true });
  }
}

document.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) {
    return;
  }
  const copyButton = event.target.closest("[data-copy], [data-copy-target]");
  if (copyButton) {
    event.preventDefault();
    handleCopy(copyButton);
    return;
  }
  const dismissButton = event.target.closest("[data-dismiss]");
  if (dismissButton) {
    event.preventDefault();
    handleDismiss(dismissButton);
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) {
    return;
  }
  const message = form.getAttribute("data-confirm") || "Are you sure?";
  if (!window.confirm(message)) {
    event.preventDefault();
  }
});
