/*! Chatmina chat widget. One file, no dependencies: paste
 *  <script src="(your Chatmina address)/widget.js" data-workspace="PUBLIC_ID" async></script>
 * It renders inside a Shadow DOM, so the page's CSS cannot break it and its CSS cannot
 * leak into the page. Text from visitors, agents and the model only ever becomes DOM text
 * (textContent / text nodes), never HTML.
 */
(function () {
  "use strict";
  if (window.Chatmina && window.Chatmina.version) {
    return; // the snippet was pasted twice
  }
  var script = document.currentScript || document.querySelector("script[data-workspace]");
  if (!script || !script.dataset.workspace) {
    return;
  }
  var D = script.dataset;
  var SRC = new URL(script.src, location.href);
  var ORIGIN = SRC.origin;
  var API = SRC.href.replace(/\/widget\.js([?#].*)?$/, "") + "/api/widget/v1/" + encodeURIComponent(D.workspace);
  var KEY = "chatmina:" + D.workspace;
  // Preview only on Chatmina's own demo page, for the admin's live settings preview.
  var PREVIEW = location.origin === ORIGIN && /[?&]preview=1(&|$)/.test(location.search);
  var COLOR = /^#[0-9a-fA-F]{6}$/;
  var MAX_CHARS = 2000; // the API's limit for a message

  // English texts: used for any key /config does not send, and before /config answered.
  var EN = {
    open: "Open chat",
    close: "Close chat",
    input_placeholder: "Type your message…",
    input_label: "Your message",
    send: "Send",
    you: "You",
    assistant: "Assistant",
    agent: "Agent",
    sources: "Sources",
    typing: "{name} is typing…",
    talk_to_person: "Talk to a person",
    handoff_requested: "We have asked a person to join. They will reply here.",
    waiting: "Waiting for a person…",
    agent_joined: "{name} joined the conversation.",
    back_to_assistant: "The assistant is answering again.",
    feedback_up: "Helpful",
    feedback_down: "Not helpful",
    feedback_thanks: "Thanks for your feedback.",
    resolved: "This conversation was resolved.",
    rate_prompt: "How did we do?",
    star_label: "{n} of 5 stars",
    rate_comment: "Anything to add? (optional)",
    rate_submit: "Send rating",
    rate_thanks: "Thank you for your rating.",
    new_conversation: "Start a new conversation",
    sending: "Sending…",
    not_sent: "Not sent. Select to try again.",
    error_too_long: "A message is limited to 2,000 characters.",
    error_rate_limited: "You are sending messages too quickly. Try again in a moment.",
    error_offline: "Connection lost. Reconnecting…",
    error_generic: "Something went wrong. Please try again.",
    powered_by: "Powered by Chatmina",
    suggestions_label: "Suggested questions",
    transcript_label: "Conversation",
    error_empty: "Write a message first.",
    error_origin: "Chat is not enabled on this website.",
    error_identity: "We could not confirm who you are. Please sign in again.",
  };

  // -- small helpers -------------------------------------------------------------------------

  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var name in attrs || {}) {
      var v = attrs[name];
      if (v === null || v === undefined || v === false) continue;
      if (name === "on") {
        for (var ev in v) el.addEventListener(ev, v[ev]);
      } else {
        el.setAttribute(name, v === true ? "" : String(v));
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c !== null && c !== undefined && c !== false && c !== "") el.append(c);
    }
    return el;
  }

  function svg(path) {
    var ns = "http://www.w3.org/2000/svg";
    var s = document.createElementNS(ns, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    s.append(p);
    return s;
  }
  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  var ICON_CLOSE = "M6 6l12 12M18 6L6 18";
  var ICON_SEND = "M3 20l18-8L3 4v6l12 2-12 2z";
  var ICON_UP = "M7 22V11l5-9a2 2 0 0 1 2 2v5h6a2 2 0 0 1 2 2l-2 9a2 2 0 0 1-2 2zM2 11h3v11H2z";
  var ICON_DOWN = "M17 2v11l-5 9a2 2 0 0 1-2-2v-5H4a2 2 0 0 1-2-2l2-9a2 2 0 0 1 2-2zM22 13h-3V2h3z";

  function t(key, vars) {
    var s = (config && config.strings && config.strings[key]) || EN[key] || key;
    return s.replace(/\{(\w+)\}/g, function (m, k) {
      return vars && vars[k] !== undefined ? String(vars[k]) : m;
    });
  }

  function store(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (e) {
      /* storage blocked: the conversation lasts as long as the page */
    }
  }
  function stored(key) {
    try {
      return localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function uuid() {
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var x = Array.prototype.map.call(b, function (n) {
      return (n + 256).toString(16).slice(1);
    }).join("");
    return x.slice(0, 8) + "-" + x.slice(8, 12) + "-" + x.slice(12, 16) + "-" + x.slice(16, 20) + "-" + x.slice(20);
  }

  // Only absolute http(s) and mailto links: "javascript:", "data:" and the like stay text.
  function safeUrl(raw) {
    try {
      var u = new URL(String(raw));
      return /^(https?|mailto):$/.test(u.protocol) ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(url, text) {
    return h("a", { href: url, target: "_blank", rel: "noopener nofollow noreferrer" }, text);
  }

  // -- Markdown, safely: a small subset, built as DOM nodes ------------------------------------

  var INLINE =
    /(`+)([^`][\s\S]*?)\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__(?!\w)|\*(?=[^\s*])([\s\S]*?[^\s*])\*|_(?=\S)([\s\S]*?\S)_(?!\w)|(!?)\[([^\]\n]+)\]\(\s*<?([^\s)>]*)>?(?:\s+"[^"\n]*")?\s*\)|\[(\d{1,3})\]|(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'"])/;

  function inline(parent, text, sources) {
    var m;
    var done = "";
    while ((m = INLINE.exec(text))) {
      var before = done + text.slice(0, m.index);
      if ((m[4] || m[6]) && /\w$/.test(before)) {
        // snake_case_words are not emphasis: keep the "_" and look further on
        done = before + "_";
        text = text.slice(m.index + 1);
        continue;
      }
      if (before) parent.append(before);
      done = "";
      text = text.slice(m.index + m[0].length);
      if (m[1]) {
        parent.append(h("code", {}, m[2]));
      } else if (m[3] || m[4]) {
        inline(parent.appendChild(h("strong")), m[3] || m[4], sources);
      } else if (m[5] || m[6]) {
        inline(parent.appendChild(h("em")), m[5] || m[6], sources);
      } else if (m[8]) {
        var url = safeUrl(m[9]);
        if (url && !m[7]) {
          inline(parent.appendChild(link(url, "")), m[8], null);
        } else {
          parent.append(m[8]); // images are not shown; unsafe links stay text
        }
      } else if (m[10]) {
        parent.append(citation(Number(m[10]), sources));
      } else {
        parent.append(link(m[11], m[11]));
      }
    }
    if (done + text) parent.append(done + text);
  }

  function citation(n, sources) {
    var found = (sources || []).filter(function (s) {
      return s.n === n;
    })[0];
    var label = "[" + n + "]";
    if (!found) return label;
    var url = safeUrl(found.url);
    var attrs = { class: "cite", title: found.title || "" };
    return url ? h("a", Object.assign(attrs, { href: url, target: "_blank", rel: "noopener nofollow noreferrer" }), label) : h("span", attrs, label);
  }

  var LIST = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
  var FENCE = /^\s{0,3}(```|~~~)/;

  function markdown(src, sources) {
    var out = document.createDocumentFragment();
    var lines = String(src || "").replace(/\r\n?/g, "\n").split("\n");
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      var m;
      if (!line.trim()) {
        i++;
      } else if ((m = FENCE.exec(line))) {
        var code = [];
        for (i++; i < lines.length && lines[i].trim().indexOf(m[1]) !== 0; i++) code.push(lines[i]);
        i++;
        out.append(h("pre", {}, h("code", {}, code.join("\n"))));
      } else if ((m = /^\s{0,3}#{1,6}\s+(.*)$/.exec(line))) {
        inline(out.appendChild(h("p", { class: "h" })).appendChild(h("strong")), m[1].replace(/\s#+\s*$/, ""), sources);
        i++;
      } else if (/^\s{0,3}>/.test(line)) {
        var quote = [];
        for (; i < lines.length && /^\s{0,3}>/.test(lines[i]); i++) quote.push(lines[i].replace(/^\s{0,3}>\s?/, ""));
        out.append(h("blockquote", {}, markdown(quote.join("\n"), sources)));
      } else if ((m = LIST.exec(line))) {
        var ordered = /\d/.test(m[1]);
        var list = h(ordered ? "ol" : "ul", ordered && parseInt(m[1], 10) !== 1 ? { start: parseInt(m[1], 10) } : {});
        var items = [];
        for (; i < lines.length; i++) {
          var l = lines[i];
          var lm = LIST.exec(l);
          if (lm && /\d/.test(lm[1]) === ordered) {
            items.push([lm[2]]);
          } else if (l.trim() && items.length && /^\s/.test(l) && !lm) {
            items[items.length - 1].push(l.trim()); // a continuation line of the item
          } else {
            break;
          }
        }
        items.forEach(function (lines) {
          inline(list.appendChild(h("li")), lines.join(" "), sources);
        });
        out.append(list);
      } else {
        var para = h("p");
        var first = true;
        for (; i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !LIST.test(lines[i]) && !/^\s{0,3}(#{1,6}\s|>)/.test(lines[i]); i++) {
          if (!first) para.append(h("br"));
          inline(para, lines[i].trim(), sources);
          first = false;
        }
        out.append(para);
      }
    }
    return out;
  }

  // -- talking to the server -----------------------------------------------------------------

  // A refusal the visitor can be told about (problem+json), as opposed to a lost connection.
  function Refused(status, problem, retryAfter) {
    this.status = status;
    // problem types are URIs ("/api/docs#problem-rate-limited"): the name is the last part
    this.type = String(problem.type || "").replace(/^.*#problem-/, "");
    this.detail = problem.detail || "";
    this.field = problem.field || (problem.errors && problem.errors[0] && problem.errors[0].field) || null;
    this.retryAfter = retryAfter;
  }
  function Lost() {}

  async function refusal(res) {
    var problem = {};
    try {
      problem = await res.json();
    } catch (e) {
      /* not JSON: a proxy's error page */
    }
    var after = parseInt(res.headers.get("retry-after") || problem.retry_after || "", 10);
    return new Refused(res.status, problem || {}, isNaN(after) ? null : after);
  }

  async function call(method, path, body, noRetry) {
    var headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token && path.indexOf("/config") !== 0) headers.authorization = "Bearer " + token;
    var res;
    try {
      res = await fetch(API + path, {
        method: method,
        headers: headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (e) {
      throw new Lost();
    }
    if (res.ok) return res.status === 204 ? null : res.json();
    var r = await refusal(res);
    if (r.status === 401 && r.type === "visitor-token-invalid" && path !== "/visitors") {
      forget();
      if (!noRetry && path !== "/events") {
        await ensureVisitor();
        return call(method, path, body, true);
      }
    }
    throw r;
  }

  // The visitor's own language where the widget has a text for the refusal, else the
  // server's (English) detail.
  function explain(err, content) {
    if (err instanceof Lost) return t("error_offline");
    if (!(err instanceof Refused)) {
      bug(err);
      return t("error_generic");
    }
    if (err.type === "rate-limited") return t("error_rate_limited", { seconds: err.retryAfter || 30 });
    if (err.type === "origin-not-allowed") return t("error_origin");
    if (err.type === "identity-invalid") return t("error_identity");
    if (err.field === "content" && content && content.trim().length > MAX_CHARS) return t("error_too_long");
    return err.detail || t("error_generic");
  }

  // -- state ---------------------------------------------------------------------------------

  var config = null;
  var loaded = null; // /config as the server sent it (preview merges over it)
  var previewed = null; // the settings form's values, in preview mode
  var fatal = null; // a refusal that stops the widget (origin not allowed)
  var token = stored(KEY);
  var identity = D.userId ? { id: D.userId, email: D.userEmail, name: D.userName, hash: D.userHash } : null;
  // A token belongs to the person it was made for: a different signed-in user (or none) on
  // this browser must not see the previous one's conversation.
  var owner = identity ? identity.id : "";
  if (token && (stored(KEY + ":user") || "") !== owner) {
    token = null;
    store(KEY, null);
    store(KEY + ":outbox", null);
  }
  var conversation = null;
  var messages = {}; // id -> Message
  var lastId = 0;
  var outbox = [];
  try {
    outbox = JSON.parse(stored(KEY + ":outbox") || "[]") || [];
  } catch (e) {
    outbox = [];
  }
  var draft = null; // the answer being written: {text}
  var skipDeltas = false; // joined mid-answer: wait for the stored message instead
  var awaiting = false; // an answer is expected (typing dots)
  var agentTyping = null;
  var statusText = "";
  var note = ""; // a passing notice (feedback thanks, handoff requested)
  var noteTimer = null;
  function notify(text) {
    note = text;
    clearTimeout(noteTimer);
    noteTimer = setTimeout(function () {
      note = "";
      refresh();
    }, 8000);
    refresh();
  }
  var online = true;
  var isOpen = false;
  var unread = 0;
  var rated = false;
  var openWhenReady = false; // Chatmina.open() before the configuration arrived

  // -- the shadow DOM ------------------------------------------------------------------------

  // A tag of its own, so a page's rules for div, section or button never reach the host.
  var host = h("chatmina-widget", { "data-chatmina": "" });
  var shadow = host.attachShadow({ mode: "open" });
  var ui = {};

  var STYLE =
    ":host{all:initial!important}*{box-sizing:border-box}" +
    ".cm{--p:#2563eb;--o:#fff;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2937;position:fixed;z-index:2147483000;bottom:20px;right:20px}" +
    ".cm.left{right:auto;left:20px}" +
    "button,textarea,input{font:inherit;color:inherit}" +
    "[hidden]{display:none!important}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    ".launcher{display:flex;align-items:center;gap:8px;min-height:56px;min-width:56px;padding:0 16px;border:0;border-radius:28px;background:var(--p);color:var(--o);cursor:pointer;box-shadow:0 4px 16px rgba(0,0,0,.25);margin-left:auto}" +
    ".left .launcher{margin-left:0}" +
    ".launcher svg{width:24px;height:24px;fill:currentColor}" +
    ".badge{background:#dc2626;color:#fff;border-radius:10px;padding:0 6px;font-size:12px;font-weight:700}" +
    ":focus-visible{outline:3px solid #f59e0b;outline-offset:2px}" +
    ".panel{position:absolute;bottom:72px;right:0;width:380px;height:min(640px,calc(100vh - 110px));background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}" +
    ".left .panel{right:auto;left:0}" +
    ".head{display:flex;align-items:center;gap:10px;padding:14px 16px;background:var(--p);color:var(--o)}" +
    ".head img{width:36px;height:36px;border-radius:50%;object-fit:cover;background:#fff}" +
    ".head div{flex:1;min-width:0}.head h2{margin:0;font-size:16px}.head p{margin:0;font-size:13px;opacity:.85}" +
    ".icon{border:0;background:transparent;color:inherit;cursor:pointer;padding:6px;border-radius:6px;display:flex}" +
    ".icon svg{width:20px;height:20px;stroke:currentColor;stroke-width:2;fill:none}" +
    ".scroll{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;background:#f9fafb}" +
    ".log{display:flex;flex-direction:column;gap:10px}" +
    ".msg{max-width:88%;align-self:flex-start;overflow-wrap:anywhere}.msg.visitor{align-self:flex-end}" +
    ".who{display:block;font-size:12px;color:#6b7280;margin:0 4px 2px}.visitor .who{text-align:right}" +
    ".bubble{background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:8px 12px}" +
    ".visitor .bubble{background:var(--p);color:var(--o);border-color:transparent;white-space:pre-wrap}" +
    ".agent .bubble{background:#eef2ff}" +
    ".bubble p,.bubble ul,.bubble ol,.bubble pre,.bubble blockquote{margin:0 0 8px}.bubble>:last-child{margin-bottom:0}" +
    ".bubble ul,.bubble ol{padding-left:20px}.bubble a{color:inherit}" +
    ".bubble code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;background:rgba(0,0,0,.06);padding:0 3px;border-radius:4px}" +
    ".bubble pre{background:#111827;color:#f9fafb;padding:8px;border-radius:8px;overflow-x:auto}.bubble pre code{background:none;padding:0}" +
    ".bubble blockquote{border-left:3px solid #d1d5db;padding-left:8px;color:#4b5563}" +
    ".cite{font-size:12px;font-weight:600;text-decoration:none;color:var(--p)!important;margin:0 1px}" +
    ".sources{margin:6px 4px 0;padding-left:18px;font-size:12px;color:#4b5563}.sources a{color:#1d4ed8}" +
    ".pending .bubble{opacity:.65}.state{font-size:12px;color:#6b7280;margin:2px 4px 0;text-align:right}" +
    ".fb{display:flex;gap:4px;margin:4px 2px 0}.fb button{border:1px solid #d1d5db;background:#fff;border-radius:6px;padding:2px 6px;cursor:pointer;display:flex}" +
    ".fb svg{width:14px;height:14px;fill:#6b7280}.fb [aria-pressed=true]{border-color:var(--p)}.fb [aria-pressed=true] svg{fill:var(--p)}" +
    ".dots{display:flex;gap:4px;padding:12px}.dots i{width:7px;height:7px;border-radius:50%;background:#9ca3af;animation:b 1s infinite}.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}" +
    "@keyframes b{50%{opacity:.3;transform:translateY(-3px)}}" +
    ".chips{display:flex;flex-wrap:wrap;gap:6px;margin:0;padding:0;list-style:none}" +
    ".chips button{border:1px solid var(--p);color:var(--p);background:#fff;border-radius:16px;padding:4px 10px;cursor:pointer;text-align:left}" +
    ".status{margin:0;padding:0 14px;font-size:12px;color:#4b5563}.status:not(:empty){padding:6px 14px}" +
    ".bar{display:flex;justify-content:center;padding:4px 14px}.link{background:none;border:0;color:#1d4ed8;text-decoration:underline;cursor:pointer;padding:4px}" +
    ".rating{border:1px solid #e5e7eb;border-radius:12px;padding:10px;background:#fff;margin:0}.rating legend{font-weight:600;padding:0 4px}" +
    ".stars{display:flex;gap:2px}.stars label{position:relative}.stars input{position:absolute;inset:0;margin:0;opacity:0;cursor:pointer}" +
    ".stars label{font-size:26px;color:#d1d5db;cursor:pointer;line-height:1}.stars label.on{color:#f59e0b}" +
    ".stars input:focus-visible+span{outline:3px solid #f59e0b}" +
    ".rating textarea{width:100%;margin:6px 0;border:1px solid #d1d5db;border-radius:8px;padding:6px}" +
    ".btn{background:var(--p);color:var(--o);border:0;border-radius:8px;padding:6px 12px;cursor:pointer}" +
    ".error{margin:0;padding:6px 14px;color:#b91c1c;font-size:13px;background:#fef2f2}" +
    "form.compose{display:flex;gap:8px;align-items:flex-end;padding:10px;border-top:1px solid #e5e7eb;background:#fff}" +
    ".compose textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:8px 10px;max-height:120px;min-height:40px}" +
    ".compose textarea[aria-invalid=true]{border-color:#b91c1c}" +
    ".compose .send{width:40px;height:40px;border:0;border-radius:10px;background:var(--p);color:var(--o);cursor:pointer;display:flex;align-items:center;justify-content:center}" +
    ".compose .send svg{width:20px;height:20px;fill:currentColor}" +
    ".off{padding:16px;color:#b91c1c}.by{margin:0;padding:0 10px 6px;font-size:11px;color:#6b7280;text-align:center;background:#fff}" +
    "@media (max-width:480px){.cm:not(.preview) .panel{position:fixed;inset:0;width:auto;height:auto;border-radius:0}.cm.open:not(.preview) .launcher{display:none}}" +
    "@media (prefers-reduced-motion:reduce){.dots i{animation:none}}";

  // Constructed style sheets are not blocked by a page's "style-src 'self'" (Chatmina's own
  // pages use that CSP); a <style> element is the fallback for browsers without them.
  var sheets = [];
  function styles(text, index) {
    if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      if (!sheets[index]) {
        sheets[index] = new CSSStyleSheet();
        shadow.adoptedStyleSheets = shadow.adoptedStyleSheets.concat(sheets[index]);
      }
      sheets[index].replaceSync(text);
    } else {
      if (!sheets[index]) shadow.append((sheets[index] = h("style")));
      sheets[index].textContent = text;
    }
  }
  styles(STYLE, 0);

  function theme() {
    var a = (config && config.appearance) || {};
    var p = COLOR.test(a.primary_color || "") ? a.primary_color : "#2563eb";
    var o = COLOR.test(a.text_on_primary || "") ? a.text_on_primary : "#ffffff";
    styles(".cm{--p:" + p + ";--o:" + o + "}", 1);
  }

  function avatarUrl(raw) {
    if (!raw) return null;
    try {
      var u = new URL(raw, ORIGIN);
      return u.protocol === "https:" || u.origin === ORIGIN ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  // The whole shell is rebuilt when the configuration changes (once at start, and on every
  // preview update); the typed text, the open state and the transcript are kept.
  function build() {
    var a = (config && config.appearance) || {};
    var typed = ui.input ? ui.input.value : "";
    theme();
    var label = a.launcher_label || t("open");
    ui.badge = h("span", { class: "badge", hidden: true });
    ui.launcher = h(
      "button",
      { class: "launcher", type: "button", "aria-label": label, "aria-expanded": "false", "aria-controls": "cm-panel", on: { click: toggle } },
      svg(ICON_CHAT),
      a.launcher_label ? h("span", { "aria-hidden": "true" }, a.launcher_label) : null,
      ui.badge,
    );
    var avatar = avatarUrl(a.avatar_url);
    ui.close = h("button", { class: "icon", type: "button", "aria-label": t("close"), on: { click: close } }, svg(ICON_CLOSE));
    var head = h(
      "header",
      { class: "head" },
      avatar ? h("img", { src: avatar, alt: "" }) : null,
      h("div", {}, h("h2", { id: "cm-title" }, a.title || (config && config.name) || "Chat"), a.subtitle ? h("p", {}, a.subtitle) : null),
      ui.close,
    );
    ui.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t("transcript_label") });
    ui.draft = h("div", { class: "draft" });
    ui.dots = h("div", { class: "msg assistant", hidden: true }, h("div", { class: "bubble dots", role: "img", "aria-label": t("typing", { name: whoOf({ role: "assistant" }) }) }, h("i"), h("i"), h("i")));
    ui.chips = h("ul", { class: "chips", "aria-label": t("suggestions_label") });
    ((config && config.suggestions) || []).slice(0, 6).forEach(function (q) {
      ui.chips.append(h("li", {}, h("button", { type: "button", on: { click: function () { submit(q); } } }, q)));
    });
    ui.rating = h("div");
    ui.greeting = config && config.greeting ? h("div", { class: "msg assistant greeting" }, h("div", { class: "bubble" }, markdown(config.greeting, null))) : null;
    ui.scroll = h("div", { class: "scroll" }, ui.greeting, ui.log, ui.draft, ui.dots, ui.chips, ui.rating);
    ui.status = h("p", { class: "status", role: "status" });
    ui.handoff = h("button", { class: "link", type: "button", on: { click: handoff } }, t("talk_to_person"));
    ui.restart = h("button", { class: "link", type: "button", on: { click: restart } }, t("new_conversation"));
    ui.bar = h("div", { class: "bar" }, ui.handoff, ui.restart);
    ui.error = h("p", { class: "error", id: "cm-error", role: "alert", hidden: true });
    ui.input = h("textarea", {
      id: "cm-input",
      rows: 1,
      placeholder: t("input_placeholder"),
      "aria-describedby": "cm-error",
      on: { keydown: onKey, input: onInput },
    });
    ui.input.value = typed;
    ui.send = h("button", { class: "send", type: "submit", "aria-label": t("send") }, svg(ICON_SEND));
    ui.form = h(
      "form",
      { class: "compose", on: { submit: function (e) { e.preventDefault(); submit(); } } },
      h("label", { class: "sr", for: "cm-input" }, t("input_label")),
      ui.input,
      ui.send,
    );
    var body = fatal
      ? [h("p", { class: "off", role: "alert" }, explain(fatal))]
      : [ui.scroll, ui.status, ui.bar, ui.error, ui.form, h("p", { class: "by" }, t("powered_by"))];
    ui.panel = h("section", { class: "panel", id: "cm-panel", role: "dialog", "aria-labelledby": "cm-title", hidden: !isOpen, on: { keydown: onPanelKey } }, head, ...body);
    ui.root = h("div", { class: "cm" + (a.position === "left" ? " left" : "") + (PREVIEW ? " preview" : "") + (isOpen ? " open" : "") }, ui.panel, ui.launcher);
    var old = shadow.querySelector(".cm");
    if (old) old.replaceWith(ui.root);
    else shadow.append(ui.root);
    if (isOpen) ui.launcher.setAttribute("aria-expanded", "true");
    Object.keys(messages)
      .map(Number)
      .sort(function (x, y) { return x - y; })
      .forEach(function (id) { place(messages[id]); });
    outbox.forEach(placePending);
    refresh();
  }

  // -- messages ------------------------------------------------------------------------------

  function whoOf(m) {
    if (m.role === "visitor") return t("you");
    if (m.role === "agent") return m.author_name || t("agent");
    return (config && config.appearance && config.appearance.title) || t("assistant");
  }

  function messageEl(m) {
    var bubble = h("div", { class: "bubble" });
    if (m.role === "visitor") bubble.textContent = m.content;
    else bubble.append(markdown(m.content, m.sources));
    var el = h("div", { class: "msg " + m.role, "data-id": m.id }, h("span", { class: "who" }, whoOf(m)), bubble);
    var cited = (m.sources || []).filter(function (s) { return s && s.title; });
    if (m.role === "assistant" && cited.length) {
      el.append(
        h("ol", { class: "sources", "aria-label": t("sources") }, ...cited.map(function (s) {
          var url = safeUrl(s.url);
          var text = s.title + (s.heading ? " › " + s.heading : "");
          return h("li", { value: s.n }, url ? link(url, text) : text);
        })),
      );
    }
    if (m.role === "assistant" && !PREVIEW) {
      el.append(
        h("div", { class: "fb" },
          feedbackButton(m, "up", t("feedback_up"), ICON_UP),
          feedbackButton(m, "down", t("feedback_down"), ICON_DOWN)),
      );
    }
    return el;
  }

  function feedbackButton(m, rating, label, icon) {
    return h("button", {
      type: "button",
      "aria-label": label,
      title: label,
      "aria-pressed": m.feedback === rating ? "true" : "false",
      on: { click: function () { feedback(m, rating); } },
    }, svg(icon));
  }

  // Messages go in id order; the same id twice (replay after a reconnect) replaces itself.
  function place(m) {
    var el = messageEl(m);
    var old = ui.log.querySelector('[data-id="' + m.id + '"]');
    if (old) return old.replaceWith(el);
    var after = null;
    var all = ui.log.querySelectorAll("[data-id]");
    for (var i = 0; i < all.length; i++) {
      if (Number(all[i].dataset.id) > m.id) {
        after = all[i];
        break;
      }
    }
    ui.log.insertBefore(el, after || ui.log.querySelector(".pending"));
  }

  // A message still on its way; after a failed attempt the visitor can hurry the next one.
  function placePending(item) {
    for (var id in messages) {
      if (messages[id].client_id === item.client_id) return; // stored and shown already
    }
    var state = item.failed
      ? h("button", { class: "state link", type: "button", on: { click: function () { flushSoon(0); } } }, t("not_sent"))
      : t("sending");
    var el = h("div", { class: "msg visitor pending", "data-client": item.client_id },
      h("span", { class: "who" }, t("you")),
      h("div", { class: "bubble" }, item.content),
      h("p", { class: "state" }, state));
    var old = ui.log.querySelector('[data-client="' + CSS.escape(item.client_id) + '"]');
    if (old) old.replaceWith(el);
    else ui.log.append(el);
  }

  function receive(m, live) {
    if (!m || typeof m.id !== "number") return;
    var known = messages[m.id];
    if (m.client_id) {
      // Sent before its POST was answered (the stream showed it first, or a retry): once.
      var pending = ui.log.querySelector('[data-client="' + CSS.escape(m.client_id) + '"]');
      if (pending) pending.remove();
    }
    // A replay after a reconnect brings what is shown already: leave it (and screen readers) be.
    if (known && JSON.stringify(known) === JSON.stringify(m)) return;
    messages[m.id] = m;
    lastId = Math.max(lastId, m.id);
    if (m.role === "assistant") {
      draft = null;
      skipDeltas = false;
      awaiting = false;
      statusText = "";
      clearTimeout(waitTimer);
    }
    if (m.role === "agent") agentTyping = null;
    place(m);
    if (!known && live && m.role !== "visitor" && !isOpen) unread++;
    refresh();
    if (!known) scrollDown();
  }

  function renderDraft() {
    ui.draft.replaceChildren();
    if (draft && draft.text) {
      ui.draft.append(
        h("div", { class: "msg assistant", "data-state": "streaming" },
          h("span", { class: "who" }, whoOf({ role: "assistant" })),
          h("div", { class: "bubble" }, markdown(draft.text, null))),
      );
    }
  }

  function scrollDown() {
    if (ui.scroll) ui.scroll.scrollTop = ui.scroll.scrollHeight;
  }

  // Everything that depends on the state, in one place.
  function refresh() {
    if (fatal || !ui.status) return;
    var state = conversation ? conversation.state : null;
    var hasMessages = ui.log.childElementCount > 0;
    ui.chips.hidden = hasMessages || !ui.chips.childElementCount;
    ui.handoff.hidden = !(config && config.handoff_enabled) || state !== "bot" || !hasMessages;
    ui.restart.hidden = state !== "resolved";
    ui.bar.hidden = ui.handoff.hidden && ui.restart.hidden;
    ui.dots.hidden = !(awaiting && !(draft && draft.text)) && !(agentTyping === "assistant");
    renderDraft();
    var line = !online
      ? t("error_offline")
      : statusText ||
        (agentTyping && agentTyping !== "assistant" ? t("typing", { name: agentTyping }) : "") ||
        note ||
        (state === "waiting" ? t("waiting") : "") ||
        (state === "assigned" && conversation.assignee_name ? t("agent_joined", { name: conversation.assignee_name }) : "") ||
        (state === "resolved" ? t("resolved") : "");
    if (ui.status.textContent !== line) ui.status.textContent = line;
    ui.badge.hidden = !unread;
    ui.badge.textContent = unread ? String(unread) : "";
    ui.launcher.setAttribute("aria-label", ((config && config.appearance && config.appearance.launcher_label) || t("open")) + (unread ? " (" + unread + ")" : ""));
    renderRating(state);
  }

  function renderRating(state) {
    var want = state === "resolved" && !PREVIEW && (conversation.rating === null || conversation.rating === undefined || rated);
    if (!want) {
      ui.rating.replaceChildren();
      rated = false;
      return;
    }
    if (rated) {
      if (!ui.rating.querySelector(".thanks")) ui.rating.replaceChildren(h("p", { class: "rating thanks", role: "status" }, t("rate_thanks")));
      return;
    }
    if (ui.rating.querySelector("form")) return;
    var stars = h("div", { class: "stars", on: { change: function () {
      var chosen = Number((stars.querySelector("input:checked") || {}).value || 0);
      stars.querySelectorAll("label").forEach(function (l, i) { l.classList.toggle("on", i < chosen); });
    } } });
    for (var n = 1; n <= 5; n++) {
      var name = t("star_label", { n: n });
      // The (invisible) radio button covers its star, so a click on the star chooses it.
      stars.append(
        h("label", { title: name },
          h("input", { type: "radio", name: "stars", value: n, "aria-label": name }),
          h("span", { "aria-hidden": "true" }, "★")),
      );
    }
    var error = h("p", { class: "error", role: "alert", hidden: true });
    var form = h(
      "form",
      { class: "rating-form", on: { submit: function (e) { e.preventDefault(); rate(form, error); } } },
      h("fieldset", { class: "rating" },
        h("legend", {}, t("rate_prompt")),
        stars,
        h("label", { class: "sr", for: "cm-rating-comment" }, t("rate_comment")),
        h("textarea", { id: "cm-rating-comment", name: "comment", rows: 2, placeholder: t("rate_comment"), maxlength: 1000 }),
        error,
        h("button", { class: "btn", type: "submit" }, t("rate_submit"))),
    );
    ui.rating.replaceChildren(form);
    scrollDown();
  }

  function setConversation(c) {
    var before = conversation;
    conversation = c && typeof c.id === "number" ? c : null;
    if (before && conversation && before.id === conversation.id && before.state !== conversation.state) {
      // A notice about the old state (a person was asked for) is stale now.
      note = "";
      if (conversation.state === "bot") notify(t("back_to_assistant"));
    }
    if (conversation && conversation.state !== "bot") awaiting = false;
    refresh();
  }

  // The next message starts a new conversation anyway; this clears the old one from view.
  function restart() {
    messages = {};
    ui.log.replaceChildren();
    outbox.forEach(placePending);
    conversation = null;
    refresh();
    ui.input.focus();
  }

  function showError(text) {
    if (!ui.error) return;
    ui.error.textContent = text || "";
    ui.error.hidden = !text;
    ui.input.setAttribute("aria-invalid", text ? "true" : "false");
  }

  // -- visitor and messages --------------------------------------------------------------------

  var creating = null;
  function ensureVisitor() {
    if (token) return Promise.resolve();
    if (!creating) {
      var body = { locale: (config && config.locale) || D.locale || navigator.language, page_url: location.href };
      if (identity) body.user = identity;
      creating = call("POST", "/visitors", body)
        .then(function (r) {
          token = r.visitor_token;
          store(KEY, token);
          store(KEY + ":user", identity ? identity.id : null);
          return connect(true);
        })
        .finally(function () {
          creating = null;
        });
    }
    return creating;
  }

  // A visitor's token is refused (forged, expired, another workspace's): start afresh.
  function forget() {
    token = null;
    store(KEY, null);
    store(KEY + ":user", null);
    disconnect();
    messages = {};
    lastId = 0;
    conversation = null;
    draft = null;
    if (ui.log) ui.log.replaceChildren();
    outbox.forEach(placePending);
    refresh();
  }

  function saveOutbox() {
    var items = outbox.map(function (o) {
      return { client_id: o.client_id, content: o.content };
    });
    store(KEY + ":outbox", items.length ? JSON.stringify(items) : null);
  }

  // Every message shows at once as "Sending…" and goes out through the outbox, in order.
  function submit(text) {
    if (fatal) return;
    var fromInput = text === undefined;
    var content = fromInput ? ui.input.value : text;
    if (!content.trim()) {
      showError(t("error_empty"));
      ui.input.focus();
      return;
    }
    showError("");
    stopTyping();
    queue({ client_id: uuid(), content: content }, fromInput);
  }

  async function post(item) {
    var r = await call("POST", "/messages", { content: item.content, client_id: item.client_id, page_url: location.href });
    if (r.conversation) setConversation(r.conversation);
    var answered = Object.keys(messages).some(function (id) {
      return id > r.message.id && messages[id].role === "assistant";
    });
    if (conversation && conversation.state === "bot" && !answered) awaiting = true;
    receive(r.message, false);
  }

  function queue(item, fromInput) {
    outbox.push(item);
    saveOutbox();
    if (fromInput) ui.input.value = "";
    placePending(item);
    refresh();
    scrollDown();
    flushSoon(0);
  }

  var flushTimer = null;
  var flushDelay = 1000;
  function flushSoon(ms) {
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flush, ms);
  }

  // Messages that could not be sent are sent again, in order, with the same client_id: the
  // server stores each client_id once, so a retry after a lost answer is no duplicate.
  var flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      await flushAll();
    } finally {
      flushing = false;
    }
  }
  async function flushAll() {
    while (outbox.length && !fatal) {
      var item = outbox[0];
      try {
        await ensureVisitor();
        await post(item);
      } catch (err) {
        if (err instanceof Lost || err.status >= 500) {
          outbox.forEach(function (o) {
            o.failed = true;
            placePending(o);
          });
          flushDelay = Math.min(flushDelay * 2, 30000);
          flushSoon(flushDelay);
          return;
        }
        // Refused (too long, too fast, not allowed): this message and those queued behind
        // it go back into the message box, with the reason. Nothing typed is lost.
        var back = outbox.splice(0).map(function (o) {
          var el = ui.log.querySelector('[data-client="' + CSS.escape(o.client_id) + '"]');
          if (el) el.remove();
          return o.content;
        });
        saveOutbox();
        var typed = ui.input.value;
        ui.input.value = back.join("\n\n") + (typed ? "\n\n" + typed : "");
        showError(explain(err, item.content));
        if (err.type === "origin-not-allowed") stop(err);
        break;
      }
      outbox.shift();
      saveOutbox();
      flushDelay = 1000;
    }
    refresh();
  }

  async function handoff() {
    try {
      await ensureVisitor();
      var r = await call("POST", "/handoff", {});
      awaiting = false;
      setConversation(r.conversation);
      notify(t("handoff_requested"));
      ui.input.focus();
    } catch (err) {
      showError(explain(err));
    }
  }

  async function feedback(m, rating) {
    try {
      var r = await call("POST", "/messages/" + m.id + "/feedback", { rating: rating });
      receive(r.message || Object.assign({}, m, { feedback: rating }), false);
      notify(t("feedback_thanks"));
      var b = ui.log.querySelector('[data-id="' + m.id + '"] [aria-pressed="true"]');
      if (b) b.focus();
    } catch (err) {
      showError(explain(err));
    }
  }

  async function rate(form, error) {
    var chosen = form.querySelector("input[name=stars]:checked");
    if (!chosen) {
      error.textContent = t("rate_prompt");
      error.hidden = false;
      return;
    }
    var comment = form.querySelector("textarea").value.trim();
    try {
      var r = await call("POST", "/rating", comment ? { stars: Number(chosen.value), comment: comment } : { stars: Number(chosen.value) });
      rated = true;
      setConversation(r.conversation);
      var thanks = ui.rating.querySelector(".thanks");
      if (thanks) {
        thanks.tabIndex = -1;
        thanks.focus();
      }
    } catch (err) {
      error.textContent = explain(err);
      error.hidden = false;
    }
  }

  // The visitor is typing: tell the agent, at most every 3 s, and that it stopped after 4 s.
  var typingSent = 0;
  var typingTimer = null;
  function onInput() {
    if (ui.error && !ui.error.hidden && ui.input.value.trim()) showError("");
    if (!token || !conversation || conversation.state === "bot" || conversation.state === "resolved") return;
    if (Date.now() - typingSent > 3000) {
      typingSent = Date.now();
      call("POST", "/typing", { active: true }, true).catch(function () {});
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent) {
      typingSent = 0;
      call("POST", "/typing", { active: false }, true).catch(function () {});
    }
  }

  // -- live events: fetch()-streamed Server-Sent Events --------------------------------------

  var stream = null; // {ctl, ready}
  var reconnectTimer = null;
  var backoff = 1000;
  var lastSeen = 0;

  function parse(block) {
    var ev = { name: "message", data: [], id: null };
    block.split("\n").forEach(function (line) {
      var i = line.indexOf(":");
      if (i === 0) return; // a comment: the server's keep-alive ping
      var field = i < 0 ? line : line.slice(0, i);
      var value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") ev.name = value;
      else if (field === "data") ev.data.push(value);
      else if (field === "id") ev.id = value;
    });
    if (!ev.data.length) return null;
    try {
      ev.data = JSON.parse(ev.data.join("\n"));
    } catch (e) {
      return null;
    }
    return ev;
  }

  function handle(ev) {
    var d = ev.data;
    if (ev.name === "conversation") {
      setConversation(d);
    } else if (ev.name === "message") {
      receive(d, true);
    } else if (ev.name === "answer.delta") {
      if (skipDeltas || !d || typeof d.text !== "string") return;
      if (!draft) draft = { text: "" };
      if (typeof d.offset === "number" && d.offset !== draft.text.length) {
        awaitStoredAnswer();
      } else {
        draft.text += d.text;
        awaiting = true;
        statusText = "";
      }
      drawSoon();
    } else if (ev.name === "answer.status") {
      statusText = (d && d.text) || "";
      refresh();
    } else if (ev.name === "typing") {
      if (!d) return;
      agentTyping = d.active ? (d.who === "assistant" ? "assistant" : d.name || t("agent")) : null;
      refresh();
    }
  }

  // An answer is on its way whose first words went by before this page or connection: show
  // the typing dots until it is stored, rather than half a sentence. A server restarted
  // mid-answer never sends it, so the dots give up after a while.
  var waitTimer = null;
  function awaitStoredAnswer() {
    draft = null;
    skipDeltas = true;
    awaiting = true;
    clearTimeout(waitTimer);
    waitTimer = setTimeout(function () {
      skipDeltas = awaiting = false;
      refresh();
    }, 90000);
  }

  var drawing = false;
  function drawSoon() {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(function () {
      drawing = false;
      refresh();
      scrollDown();
    });
  }

  // Resolves once the stream is live (its first event arrived), so a message posted after
  // that has its answer's first words seen.
  function connect(wait) {
    if (!token || fatal) return Promise.resolve();
    clearTimeout(reconnectTimer);
    if (!stream) {
      var s = (stream = { ctl: new AbortController() });
      s.ready = new Promise(function (resolve) {
        s.live = resolve;
      });
      run(s);
    }
    if (!wait) return Promise.resolve();
    var s2 = stream;
    return Promise.race([s2.ready, new Promise(function (r) { setTimeout(r, 3000); })]);
  }

  function disconnect() {
    if (stream) {
      stream.stopped = true;
      stream.ctl.abort();
      stream = null;
    }
    clearTimeout(reconnectTimer);
  }

  async function run(s) {
    var wait = backoff;
    try {
      var headers = { authorization: "Bearer " + token };
      if (lastId) headers["last-event-id"] = String(lastId);
      var res = await fetch(API + "/events", { headers: headers, signal: s.ctl.signal, cache: "no-store", credentials: "omit" });
      if (!res.ok) {
        var r = await refusal(res);
        if (r.status === 401) {
          s.stopped = true;
          forget();
        } else if (r.type === "origin-not-allowed") {
          s.stopped = true;
          stop(r);
        } else if (r.retryAfter) {
          wait = r.retryAfter * 1000;
        }
        return;
      }
      // Joined mid-answer: the words before now are gone; wait for the stored answer.
      if (draft) awaitStoredAnswer();
      var reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      var buffer = "";
      var first = true;
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        lastSeen = Date.now();
        buffer = (buffer + chunk.value).replace(/\r\n?/g, "\n");
        var blocks = buffer.split("\n\n");
        buffer = blocks.pop();
        for (var i = 0; i < blocks.length; i++) {
          var ev = parse(blocks[i]);
          if (!ev) continue;
          try {
            handle(ev);
          } catch (err) {
            bug(err); // one event the widget mishandled must not cost the connection
          }
          if (first) {
            first = false;
            online = true;
            backoff = 1000;
            wait = 1000;
            refresh();
            s.live();
            if (outbox.length) flushSoon(0);
          }
        }
      }
    } catch (e) {
      /* the connection broke or was aborted */
    } finally {
      s.live();
      if (stream === s) stream = null;
    }
    if (s.stopped || !token) return;
    online = false;
    refresh();
    backoff = Math.min(backoff * 2, 30000);
    // Jitter, so that a server restart is not followed by every widget at the same instant.
    reconnectTimer = setTimeout(function () {
      connect(false);
    }, wait / 2 + Math.random() * (wait / 2));
  }

  // A stream that has been silent for longer than two pings is dead without knowing it.
  setInterval(function () {
    if (stream && lastSeen && Date.now() - lastSeen > 50000) {
      stream.ctl.abort();
    }
  }, 10000);

  window.addEventListener("online", function () {
    backoff = 1000;
    flushDelay = 1000;
    if (!token) {
      online = true; // nothing to reconnect: the next message starts the visitor
      refresh();
    }
    if (stream) stream.ctl.abort(); // it may be half-dead; a fresh one replays what was missed
    else connect(false);
    if (outbox.length) flushSoon(0);
  });
  window.addEventListener("offline", function () {
    online = false;
    refresh();
    if (stream) stream.ctl.abort();
  });

  // A bug of the widget's own: let it reach the console without stopping the chat.
  function bug(err) {
    setTimeout(function () {
      throw err;
    });
  }

  function stop(err) {
    fatal = err;
    disconnect();
    if (ui.panel) build();
    try {
      console.warn("Chatmina: " + (err.detail || err.type));
    } catch (e) {
      /* no console */
    }
  }

  // -- opening, closing, keyboard ------------------------------------------------------------

  // Opened by the visitor, the cursor goes into the message box; opened by the page on load
  // (data-open, the preview), focus stays where the visitor (or the admin typing in the
  // settings form next to the preview) has it.
  function open(keepFocus) {
    isOpen = true;
    unread = 0;
    ui.panel.hidden = false;
    ui.root.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    refresh();
    scrollDown();
    if (!keepFocus) (fatal ? ui.close : ui.input).focus();
  }

  function close() {
    isOpen = false;
    ui.panel.hidden = true;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }

  function toggle() {
    if (isOpen) close();
    else open(false);
  }

  function onPanelKey(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    }
  }

  function onKey(e) {
    // Enter sends, Shift+Enter is a new line (and nothing is sent while composing an IME word).
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  // -- start ---------------------------------------------------------------------------------

  function merge(base, extra) {
    var out = Object.assign({}, base, extra);
    out.appearance = Object.assign({}, base && base.appearance, extra && extra.appearance);
    var own = (extra && extra.strings_overrides) || {};
    var locale = String((base && base.locale) || "en");
    out.strings = Object.assign({}, base && base.strings, extra && extra.strings, own[locale.split("-")[0]], own[locale]);
    return out;
  }

  async function start() {
    var locale = D.locale || navigator.language || "en";
    for (var delay = 1000; ; delay = Math.min(delay * 2, 30000)) {
      try {
        loaded = await call("GET", "/config?locale=" + encodeURIComponent(locale));
        config = previewed ? merge(loaded, previewed) : loaded;
        break;
      } catch (err) {
        if (!(err instanceof Refused || err instanceof Lost)) bug(err);
        if (err instanceof Refused && err.status < 500 && err.status !== 429) {
          fatal = err;
          break;
        }
        await new Promise(function (r) { setTimeout(r, err.retryAfter ? err.retryAfter * 1000 : delay); });
      }
    }
    if (fatal) {
      try {
        console.warn("Chatmina: " + (fatal.detail || fatal.type));
      } catch (e) {
        /* no console */
      }
    }
    build();
    if (D.open === "true" || PREVIEW || openWhenReady) open(!openWhenReady);
    if (fatal || !token) return;
    // The transcript so far, then the live stream from after its last message: anything the
    // stream brings is new, so it counts as unread while the panel is closed.
    try {
      var r = await call("GET", "/conversation", undefined, true);
      setConversation(r.conversation);
      (r.messages || []).forEach(function (m) {
        receive(m, false);
      });
      var last = (r.messages || [])[(r.messages || []).length - 1];
      if (conversation && conversation.state === "bot" && last && last.role === "visitor") awaitStoredAnswer();
    } catch (err) {
      if (err instanceof Refused && err.type === "origin-not-allowed") return stop(err);
      if (!(err instanceof Refused || err instanceof Lost)) bug(err);
    }
    if (token) connect(false);
    if (outbox.length) flushSoon(0);
  }

  window.Chatmina = {
    version: 1,
    open: function () {
      if (ui.panel) open();
      else openWhenReady = true;
    },
    close: function () { if (ui.panel) close(); },
    identify: function (user) {
      var next = user && user.id ? { id: String(user.id), email: user.email, name: user.name, hash: user.hash } : null;
      if (JSON.stringify(next) !== JSON.stringify(identity)) {
        identity = next;
        if (token) forget(); // a new person: a new visitor, verified on its first message
      }
    },
  };

  if (PREVIEW) {
    window.addEventListener("message", function (e) {
      if (e.origin !== ORIGIN || e.source !== window.parent || !e.data || e.data.type !== "chatmina:preview") return;
      previewed = e.data.config || {};
      config = merge(loaded || {}, previewed);
      if (ui.panel) build();
    });
    if (window.parent !== window) window.parent.postMessage({ type: "chatmina:preview-ready" }, ORIGIN);
  }

  function mount() {
    document.body.append(host);
    start();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
