// The playground, live. Without this file the question form posts and the page comes back
// with the whole answer; with it, the form posts to the stream endpoint and the answer
// appears as the model writes it. EventSource can only GET, so the Server-Sent Events are
// read from a fetch body. Text from the server goes in through textContent only: answers
// and passages are untrusted, never HTML.

const OUTCOMES = {
  answered: ["Answered by the model", "success"],
  extractive: ["Quoted from the knowledge base", "info"],
  unknown: ["Did not know: a knowledge gap", "warning"],
  failed: ["The model failed", "danger"],
  cancelled: ["Cut short", "neutral"],
};
const TIMINGS = [
  ["prepare_ms", "prepare"],
  ["rewrite_ms", "rewrite"],
  ["search_ms", "search"],
  ["first_token_ms", "first token"],
  ["total_ms", "total"],
];

// h("p", {class: "x"}, "text", child): an element; strings become text nodes.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  el.append(...children.filter((c) => c !== null && c !== undefined && c !== ""));
  return el;
}

function badge(text, kind) {
  return h("span", { class: `badge badge--${kind}` }, text);
}

function outcomeBadge(name) {
  const [label, kind] = OUTCOMES[name] || [name, "neutral"];
  return badge(label, kind);
}

function number(value, digits) {
  return value === null || value === undefined ? h("span", { class: "muted" }, "—") : value.toFixed(digits);
}

// Where a source leads: its page on the website, else its article in the knowledge base.
function href(source, slug) {
  if (typeof source.url === "string" && /^https?:\/\//i.test(source.url)) {
    return source.url;
  }
  return source.article_id ? `/w/${slug}/knowledge/${source.article_id}` : null;
}

function sourceLink(source, slug) {
  return h("a", { href: href(source, slug), rel: "noopener noreferrer" }, source.title);
}

function citationList(citations, slug) {
  if (!citations.length) {
    return null;
  }
  const items = citations.map((c) =>
    h("li", { value: c.n }, sourceLink(c, slug), c.heading ? h("span", { class: "muted" }, ` › ${c.heading}`) : null),
  );
  return h("ol", { class: "citations", "aria-label": "Sources cited" }, ...items);
}

function sourcesTable(sources, slug) {
  if (!sources.length) {
    return h("p", { class: "muted" }, "No passage of the knowledge base matched.");
  }
  const head = ["#", "Passage", "Relevance", "Score", "BM25", "Similarity"].map((label, i) =>
    h("th", { scope: "col", class: i === 1 ? null : "num" }, label),
  );
  const rows = sources.map((s) =>
    h(
      "tr",
      {},
      h("td", { class: "num" }, String(s.n)),
      h(
        "td",
        {},
        sourceLink(s, slug),
        s.heading ? h("span", { class: "muted" }, ` › ${s.heading}`) : null,
        h("details", { class: "passage" }, h("summary", {}, "Passage"), h("pre", { class: "chunk" }, s.text)),
      ),
      h("td", { class: "num" }, number(s.relevance, 2)),
      h("td", { class: "num" }, number(s.score, 4)),
      h("td", { class: "num" }, number(s.bm25, 2)),
      h("td", { class: "num" }, number(s.similarity, 3)),
    ),
  );
  const table = h(
    "table",
    { class: "table", "data-field": "sources" },
    h("thead", {}, h("tr", {}, ...head)),
    h("tbody", {}, ...rows),
  );
  return h("div", { class: "table-wrap" }, table);
}

function promptBlock(answer) {
  if (!answer.prompt || !answer.prompt.length) {
    const why = answer.model ? "" : "No prompt: without a model, answers quote the knowledge base.";
    return why ? h("p", { class: "muted" }, why) : null;
  }
  const parts = answer.prompt.flatMap((m) => [
    h("p", { class: "prompt__role mono" }, m.role),
    m.content ? h("pre", { class: "chunk" }, typeof m.content === "string" ? m.content : JSON.stringify(m.content)) : null,
    m.tool_calls ? h("pre", { class: "chunk" }, JSON.stringify(m.tool_calls, null, 2)) : null,
  ]);
  const summary = h("summary", {}, `The prompt sent to the model (${answer.prompt.length} messages)`);
  return h("details", { class: "prompt", "data-field": "prompt" }, summary, ...parts);
}

function tokensText(usage) {
  if (!usage || !Object.keys(usage).length) {
    return h("span", { class: "muted" }, "none (no model was asked)");
  }
  return `${usage.prompt_tokens || 0} prompt · ${usage.completion_tokens || 0} completion`;
}

function timingsText(timings) {
  return TIMINGS.filter(([key]) => timings && key in timings)
    .map(([key, label]) => `${label} ${Math.round(timings[key])} ms`)
    .join(" · ");
}

// The "How the answer was made" panel; `answer.outcome` is null while it streams.
function renderDetails(root, answer) {
  const slug = root.dataset.slug;
  const rows = [
    ["Outcome", answer.outcome ? outcomeBadge(answer.outcome) : badge("Answering…", "neutral"), "outcome"],
    ["Model", answer.outcome ? answer.model || "none" : "…", null],
  ];
  if (answer.query) {
    rows.push(["Searched for", answer.query, null]);
  }
  if (answer.outcome) {
    rows.push(["Tokens", tokensText(answer.usage), "tokens"], ["Timings", timingsText(answer.timings), "timings"]);
  }
  if (answer.error) {
    rows.push(["Error", answer.error, "error"]);
  }
  const list = h(
    "dl",
    { class: "dl" },
    ...rows.flatMap(([term, value, field]) => [
      h("dt", {}, term),
      h("dd", { "data-field": field, class: field === "error" ? "error-text" : null }, value),
    ]),
  );
  const tools = Object.values(answer.tools || {});
  const toolList = tools.length
    ? [
        h("h3", { class: "details__heading" }, "Function calls"),
        h(
          "ul",
          { class: "plain-list" },
          ...tools.map((t) =>
            h(
              "li",
              {},
              h("span", { class: "mono" }, t.name),
              " ",
              badge(t.state, { done: "success", failed: "danger" }[t.state] || "neutral"),
              t.detail ? ` ${t.detail}` : "",
              t.arguments ? h("pre", { class: "chunk", "aria-label": "Arguments" }, t.arguments) : null,
              t.result ? h("pre", { class: "chunk", "aria-label": "Result" }, t.result) : null,
            ),
          ),
        ),
      ]
    : [];
  root.replaceChildren(
    list,
    ...toolList,
    h("h3", { class: "details__heading" }, "Sources"),
    sourcesTable(answer.sources || [], slug),
    ...(answer.outcome ? [promptBlock(answer)].filter(Boolean) : []),
  );
}

// The events only say how a function call went; its arguments and result are in the prompt.
function addCallDetails(tools, prompt) {
  for (const message of prompt || []) {
    for (const call of message.tool_calls || []) {
      if (tools[call.id]) {
        tools[call.id].arguments = call.function.arguments;
      }
    }
    if (message.role === "tool" && tools[message.tool_call_id]) {
      tools[message.tool_call_id].result = message.content;
    }
  }
}

// -- Server-Sent Events from a fetch body ---------------------------------------------------

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) {
      name = line.slice(6).trim();
    } else if (line.startsWith("data:")) {
      data.push(line.slice(5).replace(/^ /, ""));
    }
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")) } : null;
}

async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    // Whole CRLF pairs only: a "\r" at the end may be the first half of one.
    buffer = (buffer + value).replace(/\r\n/g, "\n");
    const blocks = buffer.split("\n\n");
    buffer = blocks.pop();
    for (const block of blocks) {
      const event = parseEvent(block);
      if (event) {
        yield event;
      }
    }
  }
}

// -- the page --------------------------------------------------------------------------------

class Playground {
  constructor(form) {
    this.form = form;
    this.transcript = document.querySelector("[data-transcript]");
    this.details = document.querySelector("[data-details]");
    this.empty = document.querySelector("[data-empty]");
    this.status = form.querySelector("[data-status]");
    this.button = form.querySelector('button[type="submit"]');
    this.field = form.elements.namedItem("question");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
  }

  async ask() {
    this.clearError();
    const body = new URLSearchParams(new FormData(this.form));
    const token = this.form.elements.namedItem("_csrf_token");
    this.busy(true);
    try {
      const response = await fetch(this.form.dataset.playground, {
        method: "POST",
        body,
        headers: { "x-csrftoken": token ? token.value : "", accept: "text/event-stream" },
        credentials: "same-origin",
      });
      if (!response.ok) {
        await this.refused(response);
        return;
      }
      await this.follow(response.body, body.get("question"));
    } catch {
      this.showError("The connection to the server was lost. Try again.");
    } finally {
      this.busy(false);
    }
  }

  async refused(response) {
    let message = `The question could not be asked (${response.status}).`;
    if ((response.headers.get("content-type") || "").includes("json")) {
      const problem = await response.json();
      message = problem.detail || message;
    }
    this.showError(message);
  }

  async follow(stream, question) {
    this.empty.hidden = true;
    this.transcript.append(
      h("li", { class: "bubble bubble--visitor" }, h("p", { class: "bubble__who" }, "Visitor"), h("div", { class: "bubble__text" }, question.trim())),
    );
    const who = h("p", { class: "bubble__who" }, "Assistant");
    // aria-busy: screen readers read the answer once it is complete, not word by word.
    const text = h("div", {
      class: "bubble__text",
      "data-answer": true,
      "data-state": "streaming",
      "aria-live": "polite",
      "aria-busy": "true",
    });
    const bubble = h("li", { class: "bubble bubble--assistant" }, who, text);
    this.transcript.append(bubble);
    const answer = { outcome: null, sources: [], tools: {} };
    let finished = false;
    for await (const { name, data } of readEvents(stream)) {
      if (name === "started") {
        this.started(data.conversation_id);
      } else if (name === "sources") {
        Object.assign(answer, { query: data.query, sources: data.sources });
        renderDetails(this.details, answer);
      } else if (name === "token") {
        text.append(data.text);
      } else if (name === "tool") {
        answer.tools[data.call_id] = data;
        renderDetails(this.details, answer);
      } else if (name === "finished") {
        finished = true;
        Object.assign(answer, data);
        addCallDetails(answer.tools, data.prompt);
        text.textContent = data.content;
        text.dataset.state = "finished";
        who.append(" ", outcomeBadge(data.outcome));
        const cited = citationList(data.citations, this.details.dataset.slug);
        if (cited) {
          bubble.append(cited);
        }
        renderDetails(this.details, answer);
        this.field.value = "";
      }
    }
    text.setAttribute("aria-busy", "false");
    if (!finished) {
      text.dataset.state = "failed";
      this.showError("The answer was interrupted. Try again.");
    }
  }

  started(conversationId) {
    this.form.elements.namedItem("conversation_id").value = String(conversationId);
    // A reload shows this conversation (the server keeps it) instead of an empty page.
    const url = new URL(window.location.href);
    url.searchParams.set("c", String(conversationId));
    window.history.replaceState(null, "", url);
  }

  busy(on) {
    this.button.disabled = on;
    this.status.textContent = on ? "Answering…" : "";
    if (!on) {
      this.field.focus();
    }
  }

  clearError() {
    const old = this.form.querySelector("#field-question-error");
    if (old) {
      old.remove();
    }
    this.field.removeAttribute("aria-invalid");
    this.field.closest(".field").classList.remove("field--invalid");
  }

  showError(message) {
    this.clearError();
    const error = h("p", { class: "field__error", id: "field-question-error", role: "alert" }, h("span", {}, message));
    this.field.after(error);
    this.field.setAttribute("aria-invalid", "true");
    this.field.closest(".field").classList.add("field--invalid");
  }
}

const playgroundForm = document.querySelector("form[data-playground]");
if (playgroundForm) {
  new Playground(playgroundForm);
}
