// The inbox, live: new conversations, messages and typing arrive without a reload.
// Without JavaScript the page still works (forms post and redirect back).

const root = document.getElementById("inbox");
const TYPING_IDLE_MS = 4000;

function replaceOrPrepend(list, html, id) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  const fresh = template.content.firstElementChild;
  if (!fresh) return;
  const old = document.getElementById(id);
  if (old) {
    if (old.classList.contains("inbox-row--current")) fresh.classList.add("inbox-row--current");
    old.remove();
  }
  list.prepend(fresh);
}

function onConversation(data) {
  const list = document.getElementById("conversation-list");
  if (list && data.html) {
    replaceOrPrepend(list, data.html, `conversation-${data.id}`);
    document.getElementById("inbox-empty")?.remove();
  }
}

function onMessage(data) {
  if (String(data.conversation_id) !== root.dataset.conversation) return;
  const transcript = document.getElementById("transcript");
  if (!transcript || transcript.querySelector(`.message[data-id="${data.id}"]`)) return;
  const template = document.createElement("template");
  template.innerHTML = data.html.trim();
  if (template.content.firstElementChild) transcript.append(template.content.firstElementChild);
  if (data.role === "visitor") {
    const typing = document.getElementById("visitor-typing");
    if (typing) typing.hidden = true;
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
