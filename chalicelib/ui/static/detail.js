// One communication: live progress, actions, and the Overview / Account delivery status / Send failures tabs.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, downloadBlob, has } from "./api.js";
import {
  Banner,
  ConfirmDialog,
  Empty,
  MessageBadge,
  Modal,
  Segmented,
  SendProgress,
  Spinner,
  StatusBadge,
  Tabs,
  html,
  navigate,
  toast,
  useLoad,
  usePolling,
} from "./components.js";
import { CHANNELS, MESSAGE_GROUPS, SKIP_REASONS, date, exactDate, languageName, number } from "./format.js";

const LIVE = new Set(["IN_PROGRESS", "PAUSED", "SCHEDULED", "PENDING_APPROVAL"]);
const REFRESH_MS = 1500;
const MESSAGES_PAGE = 50;

function Waiting({ comm }) {
  const waiting = comm.counts?.deferred || 0;
  if (!waiting || !comm.deferred_until) return null;
  const last = comm.deferred_until_latest;
  return html`<p class="muted" data-testid="deferred">
    ${number(waiting)} ${waiting === 1 ? "message waits" : "messages wait"} for contact hours
    ${last && last !== comm.deferred_until
      ? html`, going out from <${When} iso=${comm.deferred_until} /> until <${When} iso=${last} />`
      : html` until <${When} iso=${comm.deferred_until} />`}
  </p>`;
}

function When({ iso }) {
  return iso ? html`<time datetime=${iso} title=${exactDate(iso)}>${date(iso)}</time>` : html`<span class="muted">—</span>`;
}

function personName(person) {
  return person ? `${person.first_name} ${person.last_name}`.trim() : "";
}

// --- actions ------------------------------------------------------------------------------------

const ACTIONS = {
  pause: { label: "Pause", from: ["IN_PROGRESS"], route: "/communications/{id}/pause", tone: "default", run: api.pause, done: "Paused." },
  resume: { label: "Resume", from: ["PAUSED"], route: "/communications/{id}/resume", tone: "primary", run: api.resume, done: "Resumed." },
  unschedule: {
    label: "Unschedule",
    from: ["SCHEDULED"],
    route: "/communications/{id}/unschedule",
    run: api.unschedule,
    done: "Back to draft.",
  },
  cancel: {
    label: "Cancel",
    from: ["IN_PROGRESS", "PAUSED", "SCHEDULED"],
    route: "/communications/{id}/cancel",
    tone: "danger",
    run: api.cancel,
    done: "Cancelled.",
    confirm: {
      title: "Cancel this communication?",
      body: html`<p>Messages not yet sent will not be sent. Messages already handed to a provider still arrive.${" "}<strong>This cannot be undone.</strong></p>`,
      label: "Cancel communication",
    },
  },
};

function Actions({ comm, canWrite, onChanged }) {
  const [pending, setPending] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  if (!canWrite) return null;
  const run = async (key) => {
    setBusy(true);
    setError(null);
    try {
      if (key === "delete") {
        await api.deleteCommunication(comm.id);
        toast("Draft deleted.");
        navigate("#/");
        return;
      }
      if (key === "clone") {
        const copy = await api.clone(comm.id, null);
        toast("Copied into a new draft.");
        navigate(`#/communications/${copy.id}/edit`);
        return;
      }
      await ACTIONS[key].run(comm.id);
      toast(ACTIONS[key].done);
      setPending(null);
      onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const available = Object.entries(ACTIONS).filter(([, a]) => a.from.includes(comm.status) && has("POST", a.route));
  const confirmOf = (key) =>
    key === "delete"
      ? { title: "Delete this draft?", body: html`<p>The draft, its audience and its message are deleted. This cannot be undone.</p>`, label: "Delete draft" }
      : ACTIONS[key].confirm;
  return html`
    <div class="header-actions">
      ${comm.status === "DRAFT"
        ? html`<a class="button button-primary" href=${`#/communications/${comm.id}/edit`}>Edit</a>
            <button type="button" class="button button-danger-outline" onClick=${() => setPending("delete")}>Delete</button>`
        : null}
      ${available.map(
        ([key, a]) => html`<button type="button" class=${`button ${a.tone === "danger" ? "button-danger-outline" : a.tone === "primary" ? "button-primary" : ""}`}
          disabled=${busy} onClick=${() => (a.confirm ? setPending(key) : run(key))}>${a.label}</button>`,
      )}
      ${comm.status !== "DRAFT" && has("POST", "/communications/{id}/clone")
        ? html`<button type="button" class="button" disabled=${busy} onClick=${() => run("clone")}>Duplicate</button>`
        : null}
      ${error && !pending ? html`<${Banner} error=${error} />` : null}
      <${ConfirmDialog}
        open=${!!pending}
        busy=${busy}
        title=${pending ? confirmOf(pending).title : ""}
        confirmLabel=${pending ? confirmOf(pending).label : ""}
        body=${pending ? html`${error ? html`<${Banner} error=${error} />` : null}${confirmOf(pending).body}` : null}
        onConfirm=${() => run(pending)}
        onCancel=${() => { setPending(null); setError(null); }}
      />
    </div>
  `;
}

// --- overview -----------------------------------------------------------------------------------

function MessageContent({ channel, content }) {
  if (!content) return html`<p class="muted">No content.</p>`;
  if (channel === "sms") return html`<div class="sms-bubble" data-testid="sms-content">${content.body}</div>`;
  return html`
    <div class="email-view" data-testid="email-content">
      <div class="email-subject"><span class="muted">Subject</span> <span data-testid="email-subject">${content.subject}</span></div>
      ${content.html ? html`<iframe class="email-frame" sandbox="" title="Email body" srcdoc=${content.html}></iframe>` : null}
      ${content.text ? html`<details><summary>Plain-text version</summary><pre class="email-text">${content.text}</pre></details>` : null}
    </div>
  `;
}

function Overview({ comm }) {
  const [channel, setChannel] = useState(comm.channels[0]);
  const languages = Object.keys(comm.content?.[channel] || {});
  const [language, setLanguage] = useState(comm.default_language);
  const shownLanguage = languages.includes(language) ? language : languages[0];
  const byChannel = comm.counts_by_channel || {};
  return html`
    <div class="overview">
      <section class="card">
        <h2>Details</h2>
        <dl class="facts">
          <div><dt>Status</dt><dd><${StatusBadge} status=${comm.status} /></dd></div>
          <div><dt>Delivery date</dt><dd data-testid="delivery-date"><${When} iso=${comm.started_at} /></dd></div>
          <div><dt>Sent by</dt><dd>${personName(comm.sent_by) || html`<span class="muted">—</span>`}</dd></div>
          <div><dt>Finished</dt><dd><${When} iso=${comm.finished_at} /></dd></div>
          <div><dt>Created</dt><dd><${When} iso=${comm.created_at} />${comm.created_by ? ` by ${personName(comm.created_by)}` : ""}</dd></div>
          <div><dt>Recipients</dt><dd>${number(comm.audience?.accepted || 0)} accounts</dd></div>
          <div><dt>Channels</dt><dd>${comm.channels.map((c) => CHANNELS[c]).join(", ")}</dd></div>
          <div><dt>Default language</dt><dd>${languageName(comm.default_language)}</dd></div>
        </dl>
        ${comm.status !== "DRAFT"
          ? html`<div class="scroll-x"><table class="table compact by-channel">
              <caption>Messages by channel</caption>
              <thead><tr><th scope="col">Channel</th><th scope="col" class="num">Total</th><th scope="col" class="num">Sent</th>
                <th scope="col" class="num">Delivered</th><th scope="col" class="num">Delivery errors</th><th scope="col" class="num">Could not send</th><th scope="col" class="num">Skipped</th></tr></thead>
              <tbody>
                ${comm.channels.map((c) => {
                  const n = byChannel[c] || {};
                  return html`<tr><th scope="row">${CHANNELS[c]}</th><td class="num">${number(n.messages_total || 0)}</td><td class="num">${number(n.sent || 0)}</td>
                    <td class="num">${number(n.delivered || 0)}</td><td class="num">${number(n.delivery_failed || 0)}</td>
                    <td class="num">${number(n.send_failed || 0)}</td><td class="num">${number(n.skipped || 0)}</td></tr>`;
                })}
              </tbody>
            </table></div>`
          : null}
      </section>
      <section class="card" aria-labelledby="message-details">
        <h2 id="message-details">Message details</h2>
        <div class="editor-switch">
          ${comm.channels.length > 1
            ? html`<${Segmented} name="view-channel" label="Channel" value=${channel} onChange=${setChannel}
                options=${comm.channels.map((c) => ({ value: c, label: CHANNELS[c] }))} />`
            : null}
          ${languages.length > 1
            ? html`<${Segmented} name="view-language" label="Language" value=${shownLanguage} onChange=${setLanguage}
                options=${languages.map((l) => ({ value: l, label: languageName(l) }))} />`
            : null}
        </div>
        <${MessageContent} channel=${channel} content=${comm.content?.[channel]?.[shownLanguage]} />
        <p class="muted small">Placeholders such as <code>{{ account.first_name }}</code> were filled in for each account when sent;
          the Account delivery status tab shows what each account received.</p>
      </section>
    </div>
  `;
}

// --- account delivery status ---------------------------------------------------------------------

function MessageDialog({ commId, message, onClose }) {
  const loaded = useLoad(() => (message ? api.getMessage(commId, message.id) : Promise.resolve(null)), [message?.id]);
  const m = loaded.data;
  return html`
    <${Modal} open=${!!message} title="Message received" onClose=${onClose} wide>
      ${loaded.loading ? html`<${Spinner} />` : null}
      ${loaded.error ? html`<${Banner} error=${loaded.error} />` : null}
      ${m
        ? html`
            <dl class="facts facts-compact">
              <div><dt>Account</dt><dd><code>${m.account_id}</code></dd></div>
              <div><dt>Channel</dt><dd>${CHANNELS[m.channel]} · ${m.language ? languageName(m.language) : "—"}</dd></div>
              <div><dt>To</dt><dd>${m.address || "—"}</dd></div>
              <div><dt>Status</dt><dd><${MessageBadge} status=${m.status} error=${m.error} /> ${m.error ? html`<span class="danger-text">${m.error}</span>` : null}</dd></div>
              <div><dt>Sent</dt><dd><${When} iso=${m.sent_at} /></dd></div>
              <div><dt>Delivered</dt><dd><${When} iso=${m.delivered_at} /></dd></div>
              ${m.provider ? html`<div><dt>Provider</dt><dd>${m.provider} <code class="small">${m.provider_message_id}</code></dd></div>` : null}
            </dl>
            ${m.content ? html`<${MessageContent} channel=${m.channel} content=${m.content} />` : html`<p class="muted">Nothing was rendered for this message.</p>`}
          `
        : null}
    </${Modal}>
  `;
}

function DeliveryStatus({ comm, live }) {
  const [channel, setChannel] = useState("");
  const [group, setGroup] = useState("");
  const [pages, setPages] = useState({ items: [], next_cursor: null });
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(null);
  const [expanded, setExpanded] = useState(() => new Set());

  const query = (cursor) => ({
    channel,
    status: group ? MESSAGE_GROUPS[group].statuses.join(",") : "",
    cursor,
    limit: MESSAGES_PAGE,
  });
  const latest = useRef(0);
  const loadFirst = async () => {
    const asked = ++latest.current;
    const page = await api.listMessages(comm.id, query(null));
    if (asked !== latest.current) return; // the filters changed meanwhile: a newer answer is coming
    setPages(page);
    setError(null);
    setLoading(false);
  };
  useEffect(() => {
    setLoading(true);
    loadFirst().catch((e) => {
      setError(e);
      setLoading(false);
    });
  }, [channel, group]);
  const onlyFirstPage = pages.items.length <= MESSAGES_PAGE;
  usePolling(loadFirst, 3000, live && onlyFirstPage);

  const more = async () => {
    try {
      const asked = ++latest.current;
      const page = await api.listMessages(comm.id, query(pages.next_cursor));
      if (asked !== latest.current) return;
      setPages({ items: [...pages.items, ...page.items], next_cursor: page.next_cursor });
    } catch (e) {
      setError(e);
    }
  };
  const toggle = (id) => {
    const next = new Set(expanded);
    next.has(id) ? next.delete(id) : next.add(id);
    setExpanded(next);
  };

  return html`
    <div class="toolbar">
      <label class="inline">Channel
        <select value=${channel} onChange=${(e) => setChannel(e.target.value)} data-testid="message-channel-filter">
          <option value="">All</option>
          ${comm.channels.map((c) => html`<option value=${c}>${CHANNELS[c]}</option>`)}
        </select>
      </label>
      <label class="inline">Status
        <select value=${group} onChange=${(e) => setGroup(e.target.value)} data-testid="message-status-filter">
          <option value="">All</option>
          ${Object.entries(MESSAGE_GROUPS).map(([key, g]) => html`<option value=${key}>${g.label}</option>`)}
        </select>
      </label>
      <span class="muted">One row per message: an account that gets both an email and an SMS has two.</span>
    </div>
    ${error ? html`<${Banner} error=${error} />` : null}
    <div class="table-wrap">
      <table class="table messages-table" data-testid="messages">
        <thead>
          <tr>
            <th scope="col">Account</th><th scope="col">Channel</th><th scope="col">Language</th><th scope="col">Sent to</th>
            <th scope="col">Status</th><th scope="col">Sent</th><th scope="col">Delivered</th>
            <th scope="col"><span class="visually-hidden">Content</span></th>
          </tr>
        </thead>
        <tbody>
          ${pages.items.map((m) => {
            const reason = m.error || SKIP_REASONS[m.skip_reason] || "";
            return html`
              <tr key=${m.id} data-status=${m.status}>
                <td data-label="Account"><code class="uuid">${m.account_id}</code></td>
                <td data-label="Channel">${CHANNELS[m.channel]}</td>
                <td data-label="Language">${m.language || html`<span class="muted">—</span>`}</td>
                <td data-label="Sent to" class="address">${m.address || html`<span class="muted">—</span>`}</td>
                <td data-label="Status">
                  <${MessageBadge} status=${m.status} error=${reason} />
                  ${reason
                    ? html`<button type="button" class="link small why" aria-expanded=${expanded.has(m.id)} onClick=${() => toggle(m.id)}>
                        ${expanded.has(m.id) ? "Hide" : "Why?"}</button>
                        ${expanded.has(m.id) ? html`<div class="row-error" data-testid="row-error">${reason}</div>` : null}`
                    : null}
                </td>
                <td data-label="Sent"><${When} iso=${m.sent_at} /></td>
                <td data-label="Delivered"><${When} iso=${m.delivered_at} /></td>
                <td><button type="button" class="button button-small" onClick=${() => setOpen(m)} aria-label=${`View the ${CHANNELS[m.channel]} sent to ${m.account_id}`}>View</button></td>
              </tr>
            `;
          })}
        </tbody>
      </table>
      ${loading ? html`<${Spinner} />` : null}
      ${!loading && !pages.items.length ? html`<${Empty} title="No messages match these filters." />` : null}
    </div>
    ${pages.next_cursor ? html`<div class="pager"><button type="button" class="button" onClick=${more}>Show more</button></div>` : null}
    <${MessageDialog} commId=${comm.id} message=${open} onClose=${() => setOpen(null)} />
  `;
}

// --- send failures ------------------------------------------------------------------------------

function failureRows(result) {
  // GET /communications/{id}/send-failures: one item per account with its failed messages.
  return (result?.items || []).map((item) => ({
    accountId: item.account_id,
    errors: item.failures.map((m) => `${CHANNELS[m.channel] || m.channel}: ${m.error || ""}`),
    other: item.got_other_message,
  }));
}

function SendFailures({ comm }) {
  const loaded = useLoad(() => api.sendFailures(comm.id), [comm.id, comm.counts?.send_failed]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const rows = failureRows(loaded.data);
  const download = async () => {
    try {
      downloadBlob(await api.sendFailuresCsv(comm.id), `${comm.name.replace(/[^\w-]+/g, "_")}-send-failures.csv`);
    } catch (e) {
      setError(e);
    }
  };
  const cloneFailures = async () => {
    setBusy(true);
    try {
      const copy = await api.clone(comm.id, "send_failures");
      toast("New draft created with these accounts.");
      navigate(`#/communications/${copy.id}/edit`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return html`
    <p class="muted">Messages that could not be sent at all, by account, with the provider's reason. The UUIDs are the ones from your CSV.</p>
    <div class="toolbar">
      <button type="button" class="button" onClick=${download}>Download CSV</button>
      ${has("POST", "/communications/{id}/clone")
        ? html`<button type="button" class="button button-primary" onClick=${cloneFailures} disabled=${busy}>New communication from these accounts</button>`
        : null}
    </div>
    ${error ? html`<${Banner} error=${error} />` : null}
    ${loaded.error ? html`<${Banner} error=${loaded.error} />` : null}
    <div class="table-wrap">
      <table class="table" data-testid="send-failures">
        <thead><tr><th scope="col">Account UUID</th><th scope="col">Error</th><th scope="col">Got another message</th></tr></thead>
        <tbody>
          ${rows.map(
            (r) => html`<tr><td><code class="uuid">${r.accountId}</code></td><td class="danger-text">${r.errors.join("; ")}</td>
              <td>${r.other === undefined ? "—" : r.other ? "Yes" : "No"}</td></tr>`,
          )}
        </tbody>
      </table>
      ${loaded.loading ? html`<${Spinner} />` : null}
    </div>
  `;
}

// --- the screen ---------------------------------------------------------------------------------

export function Detail({ id, params, canWrite }) {
  const loaded = useLoad(() => api.getCommunication(id), [id]);
  const [tab, setTab] = useState(params.tab || "overview");
  const comm = loaded.data;
  const live = !!comm && LIVE.has(comm.status);
  usePolling(loaded.reload, REFRESH_MS, live);

  if (loaded.error && !comm) return html`<${Banner} title="This communication could not be loaded." error=${loaded.error} />`;
  if (!comm) return html`<${Spinner} />`;

  const showFailures = comm.status !== "COMPLETED" && (comm.counts?.send_failed || 0) > 0 && has("GET", "/communications/{id}/send-failures");
  const tabs = [
    { id: "overview", label: "Overview" },
    ...(comm.status !== "DRAFT" ? [{ id: "delivery", label: "Account delivery status" }] : []),
    ...(showFailures ? [{ id: "failures", label: "Send failures", count: comm.counts.send_failed }] : []),
  ];
  const activeTab = tabs.some((t) => t.id === tab) ? tab : "overview";
  const selectTab = (next) => {
    setTab(next);
    history.replaceState(null, "", `#/communications/${comm.id}?tab=${next}`);
  };

  return html`
    <div class="page-head">
      <div>
        <a href="#/" class="back">← Mass communications</a>
        <h1 class="title-row">${comm.name} <${StatusBadge} status=${comm.status} /></h1>
        <p class="muted">
          ${comm.started_at ? html`Started <${When} iso=${comm.started_at} /> by ${personName(comm.sent_by)}` : "Not sent yet"}${" · "}${comm.channels.map((c) => CHANNELS[c]).join(" and ")} · ${number(comm.audience?.accepted || 0)} accounts
        </p>
      </div>
      <${Actions} comm=${comm} canWrite=${canWrite} onChanged=${loaded.reload} />
    </div>
    ${comm.status === "FAILED"
      ? html`<${Banner} tone="danger" title="Some messages could not be sent.">
          ${showFailures ? "See the Send failures tab for who and why." : "Filter the Account delivery status tab by Failed to see who and why."}</${Banner}>`
      : null}
    ${comm.status !== "DRAFT" ? html`<${SendProgress} counts=${comm.counts} status=${comm.status} />` : null}
    <${Waiting} comm=${comm} />
    <${Tabs} tabs=${tabs} active=${activeTab} onChange=${selectTab} label="Communication" />
    <div role="tabpanel" id=${`panel-${activeTab}`} aria-labelledby=${`tab-${activeTab}`} class="tabpanel">
      ${activeTab === "overview" ? html`<${Overview} comm=${comm} />` : null}
      ${activeTab === "delivery" ? html`<${DeliveryStatus} comm=${comm} live=${live} />` : null}
      ${activeTab === "failures" ? html`<${SendFailures} comm=${comm} />` : null}
    </div>
  `;
}
