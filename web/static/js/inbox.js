// The inbox, live: new conversations, messages and typing arrive without a reload.
// Without JavaScript the page still works (forms post and redirect back).

const root = document.getElementById("inbox");
const TYPING_IDLE_MS = 4000;
// The tab's title starts with the number of visitors waiting for a person: "(2) Inbox".
const TITLE = document.title.replace(/^\(\d+\) /, "");

function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

// Whether a conversation belongs in the list as filtered on this page.
function listed(data) {
  const states = (root.dataset.states || "").split(" ");
  if (!states.includes(data.state)) return false;
  const assignee = root.dataset.assignee || "";
  if (assignee === "me") return String(data.assignee_id) === root.dataset.me;
  if (assignee === "none") return data.assignee_id === null;
  if (assignee) return String(data.assignee_id) === assignee;
  return true;
}

let countsTimer = 0;
function refreshCounts() {
  window.clearTimeout(countsTimer);
  countsTimer = window.setTimeout(async () => {
    try {
      const response = await fetch(root.dataset.counts, { credentials: "same-origin" });
      if (!response.ok) return;
      const counts = await response.json();
      for (const [key, value] of Object.entries(counts)) {
        const badge = document.getElementById(`count-${key}`);
        if (badge) badge.textContent = String(value);
      }
      document.title = counts.waiting ? `(${counts.waiting}) ${TITLE}` : TITLE;
    } catch {
      /* the counts stay as they were until the next change or reload */
    }
  }, 300);
}

function onConversation(data) {
  refreshCounts();
  const list = document.getElementById("conversation-list");
  const old = document.getElementById(`conversation-${data.id}`);
  const current = String(data.id) === root.dataset.conversation;
  if (current) {
    const badge = document.getElementById("conversation-state");
    if (badge) badge.textContent = data.state_label || data.state;
  }
  if (!list || !data.html) return;
  // A search shows what matched when the page loaded; rows only change, none are added.
  if (!listed(data) || (root.dataset.query && !old)) {
    if (old && !listed(data)) old.remove();
    return;
  }
  const fresh = fragment(data.html);
  if (!fresh) return;
  if (current) fresh.classList.add("inbox-row--current");
  // Keep the list's filter when the row is opened (set as text: a node made from a
  // <template> has no base URL to resolve a relative link against).
  const link = fresh.querySelector("a[href]");
  if (link) link.setAttribute("href", link.getAttribute("href").split("?")[0] + window.location.search);
  old?.remove();
  list.prepend(fresh);
  document.getElementById("inbox-empty")?.remove();
}

let readPending = false;
function markRead() {
  const form = document.getElementById("composer");
  const token = form?.querySelector("input[name=_csrf_token]")?.value;
  if (!root.dataset.read || !token || readPending) return;
  readPending = true;
  const body = new URLSearchParams({ _csrf_token: token });
  fetch(root.dataset.read, { method: "POST", body, credentials: "same-origin" })
    .catch(() => {})
    .finally(() => (readPending = false));
}

function onMessage(data) {
  if (String(data.conversation_id) !== root.dataset.conversation) return;
  const transcript = document.getElementById("transcript");
  if (!transcript || transcript.querySelector(`.message[data-id="${data.id}"]`)) return;
  const entry = fragment(data.html);
  if (entry) {
    transcript.append(entry);
    entry.scrollIntoView({ block: "end" });
  }
  if (data.role === "visitor") {
    const typing = document.getElementById("visitor-typing");
    if (typing) typing.hidden = true;
    if (document.visibilityState === "visible") markRead();
  }
}

let typingTimer = 0;
function onTyping(data) {
  if (String(data.conversation_id) !== root.dataset.conversation) return;
  const typing = document.getElementById("visitor-typing");
  if (!typing) return;
  typing.hidden = !data.active;
  window.clearTimeout(typingTimer);
  if (data.active) typingTimer = window.setTimeout(() => (typing.hidden = true), TYPING_IDLE_MS * 3);
}

function listen() {
  const source = new EventSource(root.dataset.events);
  const handlers = { conversation: onConversation, message: onMessage, typing: onTyping };
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch {
        /* a malformed event is skipped; the next reload shows the truth */
      }
    });
  }
}

function composerTyping() {
  const form = document.getElementById("composer");
  const area = form?.querySelector("textarea[name=content]");
  if (!form || !area) return;
  const token = form.querySelector("input[name=_csrf_token]")?.value ?? "";
  let active = false;
  let idle = 0;
  const send = (state) => {
    active = state;
    const body = new URLSearchParams({ _csrf_token: token, active: state ? "1" : "0" });
    fetch(form.dataset.typing, { method: "POST", body, credentials: "same-origin" }).catch(() => {});
  };
  area.addEventListener("input", () => {
    if (!active) send(true);
    window.clearTimeout(idle);
    idle = window.setTimeout(() => send(false), TYPING_IDLE_MS);
  });
  form.addEventListener("submit", () => {
    window.clearTimeout(idle);
    if (active) send(false);
  });
}

if (root) {
  listen();
  composerTyping();
  document.getElementById("transcript")?.lastElementChild?.scrollIntoView({ block: "end" });
}
