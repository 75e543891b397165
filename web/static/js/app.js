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

// Import progress: a job page with [data-import-progress="<SSE url>"] follows the job live
// (Server-Sent Events); without JavaScript a reload shows the same state.
const OUTCOME_BADGE = { imported: "success", updated: "info", skipped: "neutral", failed: "danger" };

function renderImport(root, state) {
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const total = Math.max(state.total, state.done, 1);
  field("status").textContent = state.status.charAt(0).toUpperCase() + state.status.slice(1);
  field("bar").max = total;
  field("bar").value = state.done;
  field("summary").textContent =
    `${state.done} of ${Math.max(state.total, state.done)} processed: ${state.imported} imported, ` +
    `${state.updated} updated, ${state.skipped} skipped, ${state.failed} failed.`;
  const body = document.querySelector('[data-field="results"]');
  if (!body) {
    return;
  }
  const slug = root.getAttribute("data-import-progress").split("/")[2];
  body.replaceChildren(
    ...state.results.map((r) => {
      const row = document.createElement("tr");
      const name = document.createElement("td");
      name.className = "mono";
      if (r.article_id) {
        const link = document.createElement("a");
        link.href = `/w/${slug}/knowledge/${r.article_id}`;
        link.textContent = r.name;
        name.append(link);
      } else {
        name.textContent = r.name;
      }
      const outcome = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = `badge badge--${OUTCOME_BADGE[r.outcome] || "neutral"}`;
      badge.textContent = r.outcome;
      outcome.append(badge);
      const reason = document.createElement("td");
      reason.textContent = r.reason;
      row.append(name, outcome, reason);
      return row;
    }),
  );
}

for (const root of document.querySelectorAll("[data-import-progress]")) {
  const source = new EventSource(root.getAttribute("data-import-progress"));
  source.addEventListener("progress", (event) => {
    const state = JSON.parse(event.data);
    renderImport(root, state);
    // A dropped stream reconnects by itself; once the job has ended there is nothing to follow.
    if (state.status !== "running") {
      source.close();
    }
  });
}
