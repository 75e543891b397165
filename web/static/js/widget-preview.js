// The Widget settings page's live preview. The iframe shows the demo page in preview mode;
// this module sends it the form's current values on every change, so the admin sees the
// widget as it will look before saving. Messages go to Chatmina's own origin only, and the
// widget accepts them only from its parent page on that origin.

const frame = document.getElementById("widget-preview");
const form = document.getElementById("widget-settings");

function field(name) {
  const found = form.elements.namedItem(name);
  if (!found) {
    return "";
  }
  if (found instanceof HTMLInputElement && found.type === "checkbox") {
    return found.checked;
  }
  return found.value; // a RadioNodeList's value is the checked radio's
}

// "de.send = Los", one per line, as the Texts field takes them: {de: {send: "Los"}}.
function overrides(raw) {
  const byLocale = {};
  for (const line of String(raw).split("\n")) {
    const match = /^\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?)\.(\w+)\s*=\s*(.*?)\s*$/.exec(line);
    if (match && match[3]) {
      const locale = match[1].toLowerCase().replace("_", "-");
      byLocale[locale] = { ...byLocale[locale], [match[2]]: match[3] };
    }
  }
  return byLocale;
}

function currentConfig() {
  return {
    appearance: {
      title: field("title"),
      subtitle: field("subtitle"),
      primary_color: field("primary_color"),
      text_on_primary: field("text_on_primary"),
      position: field("position") || "right",
      avatar_url: field("avatar_url"),
      launcher_label: field("launcher_label"),
    },
    greeting: field("greeting"),
    suggestions: String(field("suggestions"))
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean)
      .slice(0, 6),
    handoff_enabled: Boolean(field("handoff_enabled")),
    strings_overrides: overrides(field("strings")),
  };
}

function send() {
  if (frame.contentWindow) {
    frame.contentWindow.postMessage({ type: "chatmina:preview", config: currentConfig() }, window.location.origin);
  }
}

if (frame && form) {
  if (!frame.getAttribute("src")) {
    frame.src = frame.dataset.demoSrc;
  }
  form.addEventListener("input", send);
  form.addEventListener("change", send);
  // The widget says when it is listening; until then a message could arrive too early.
  window.addEventListener("message", (event) => {
    if (event.origin === window.location.origin && event.source === frame.contentWindow && event.data && event.data.type === "chatmina:preview-ready") {
      send();
    }
  });
}
