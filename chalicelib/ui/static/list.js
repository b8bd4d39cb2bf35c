// The main list: every communication, newest first, with what can be done to each.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, has } from "./api.js";
import {
  Banner,
  ConfirmDialog,
  Empty,
  Spinner,
  StatusBadge,
  html,
  navigate,
  toast,
  usePolling,
} from "./components.js";
import { COMMUNICATION_STATUS, date, exactDate, number, percent } from "./format.js";

const PAGE_SIZE = 20;
const REFRESH_MS = 2000;

function RowMenu({ item, canWrite, onCancel, onDelete }) {
  const [open, setOpen] = useState(false);
  const button = useRef(null);
  const list = useRef(null);
  useEffect(() => {
    if (!open) return undefined;
    list.current?.querySelector("[role=menuitem]")?.focus();
    const close = (event) => {
      if (event.type === "keydown" && event.key !== "Escape") return;
      if (event.type === "click" && event.target.closest?.(`[data-menu="${item.id}"]`)) return;
      setOpen(false);
      if (event.type === "keydown") button.current?.focus();
    };
    document.addEventListener("click", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("click", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);
  const actions = [{ label: "View", href: `#/communications/${item.id}` }];
  if (canWrite && item.status === "IN_PROGRESS" && has("POST", "/communications/{id}/cancel")) {
    actions.push({ label: "Cancel", onClick: onCancel, tone: "danger" });
  }
  if (canWrite && item.status === "DRAFT") {
    actions.push({ label: "Edit", href: `#/communications/${item.id}/edit` });
    actions.push({ label: "Delete", onClick: onDelete, tone: "danger" });
  }
  // Up and down arrows move between the items, as in any menu.
  const onKeyDown = (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const items = [...list.current.querySelectorAll("[role=menuitem]")];
    const index = items.indexOf(document.activeElement);
    const step = event.key === "ArrowDown" ? 1 : -1;
    items[(index + step + items.length) % items.length]?.focus();
  };
  return html`
    <div class="menu" data-menu=${item.id}>
      <button ref=${button} type="button" class="button button-ghost menu-button" aria-haspopup="menu" aria-expanded=${open}
        aria-label=${`Actions for ${item.name}`} onClick=${() => setOpen(!open)}>⋮</button>
      ${open
        ? html`<ul class="menu-list" role="menu" ref=${list} onKeyDown=${onKeyDown}>
            ${actions.map((action) =>
              action.href
                ? html`<li role="none"><a role="menuitem" href=${action.href}>${action.label}</a></li>`
                : html`<li role="none"><button type="button" role="menuitem" class=${action.tone === "danger" ? "danger-text" : ""}
                    onClick=${() => { setOpen(false); action.onClick(); }}>${action.label}</button></li>`,
            )}
          </ul>`
        : null}
    </div>
  `;
}

function SentCell({ item }) {
  if (item.status === "DRAFT" || !item.counts) return html`<span class="muted">—</span>`;
  const c = item.counts;
  const sendable = c.messages_total - c.skipped - c.cancelled;
  return html`<span class="num">${number(c.sent)}</span><span class="muted"> / ${number(sendable)}</span>
    ${item.sent_pct !== null && item.sent_pct !== undefined
      ? html` <span class="pct ${item.sent_pct < 100 && item.status !== "IN_PROGRESS" ? "pct-short" : ""}">${percent(item.sent_pct)}</span>`
      : null}`;
}

export function CommunicationList({ params, canWrite }) {
  const status = params.status || "";
  const [cursors, setCursors] = useState([null]); // cursor of each page seen so far
  const [page, setPage] = useState({ items: [], next_cursor: null });
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(null);
  const [pending, setPending] = useState(null); // {action: "cancel"|"delete", item}
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState(null);
  const cursor = cursors[cursors.length - 1];

  const latest = useRef(0);
  const load = async () => {
    const asked = ++latest.current;
    const result = await api.listCommunications({ status, cursor, limit: PAGE_SIZE });
    if (asked !== latest.current) return; // the filter or page changed meanwhile
    setPage(result);
    setError(null);
    setLoading(false);
  };

  useEffect(() => {
    setLoading(true);
    load().catch((e) => {
      setError(e);
      setLoading(false);
    });
  }, [status, cursor]);

  const anyInProgress = page.items.some((item) => item.status === "IN_PROGRESS");
  usePolling(load, REFRESH_MS, anyInProgress);

  const setStatus = (value) => {
    setCursors([null]);
    navigate(value ? `#/?status=${value}` : "#/");
  };

  const confirm = async () => {
    setBusy(true);
    setActionError(null);
    try {
      if (pending.action === "delete") {
        await api.deleteCommunication(pending.item.id);
        toast(`Draft “${pending.item.name}” deleted.`);
      } else {
        await api.cancel(pending.item.id);
        toast(`“${pending.item.name}” cancelled.`);
      }
      setPending(null);
      await load();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`
    <div class="page-head">
      <div>
        <h1>Mass communications</h1>
        <p class="muted">One message, by email and SMS, to the accounts you choose — and what became of it.</p>
      </div>
      ${canWrite ? html`<a class="button button-primary" href="#/new">New communication</a>` : null}
    </div>

    <div class="toolbar">
      <label class="inline">Status
        <select value=${status} onChange=${(e) => setStatus(e.target.value)} aria-label="Filter by status" data-testid="status-filter">
          <option value="">All</option>
          ${Object.entries(COMMUNICATION_STATUS).map(([value, s]) => html`<option value=${value}>${s.label}</option>`)}
        </select>
      </label>
      ${anyInProgress ? html`<span class="live" aria-live="off"><i class="live-dot"></i> Updating live</span>` : null}
    </div>

    ${error ? html`<${Banner} title="The list could not be loaded." error=${error} />` : null}
    ${actionError && !pending ? html`<${Banner} error=${actionError} />` : null}

    <div class="table-wrap">
      <table class="table list-table" data-testid="communications">
        <thead>
          <tr>
            <th scope="col">Communication name</th>
            <th scope="col" class="col-status">Status</th>
            <th scope="col" class="col-sent">Messages sent</th>
            <th scope="col" class="col-num">Delivery errors</th>
            <th scope="col" class="col-date">Delivery date</th>
            <th scope="col" class="col-by">Sent by</th>
            <th scope="col" class="col-actions"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          ${page.items.map(
            (item) => html`
              <tr key=${item.id} data-id=${item.id}>
                <td data-label="Name"><a href=${`#/communications/${item.id}`} class="strong">${item.name}</a></td>
                <td data-label="Status"><${StatusBadge} status=${item.status} /></td>
                <td data-label="Messages sent" class="num-cell"><${SentCell} item=${item} /></td>
                <td data-label="Delivery errors" class="num-cell">
                  ${item.status === "DRAFT" ? html`<span class="muted">—</span>` : html`<span class=${item.counts?.delivery_failed ? "danger-text num" : "num"}>${number(item.counts?.delivery_failed || 0)}</span>`}
                </td>
                <td data-label="Delivery date">
                  ${item.started_at ? html`<time datetime=${item.started_at} title=${exactDate(item.started_at)}>${date(item.started_at)}</time>` : null}
                </td>
                <td data-label="Sent by">${item.sent_by ? `${item.sent_by.first_name} ${item.sent_by.last_name}`.trim() : ""}</td>
                <td class="col-actions">
                  <${RowMenu} item=${item} canWrite=${canWrite}
                    onCancel=${() => setPending({ action: "cancel", item })}
                    onDelete=${() => setPending({ action: "delete", item })} />
                </td>
              </tr>
            `,
          )}
        </tbody>
      </table>
      ${loading && !page.items.length ? html`<${Spinner} />` : null}
      ${!loading && !error && !page.items.length
        ? html`<${Empty} title=${status ? "No communications with this status." : "No communications yet."}>
            ${canWrite && !status ? html`<a href="#/new">Create the first one</a>.` : null}
          </${Empty}>`
        : null}
    </div>

    <nav class="pager" aria-label="Pages">
      <button type="button" class="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>← Newer</button>
      <span class="muted">Page ${cursors.length}</span>
      <button type="button" class="button" disabled=${!page.next_cursor} onClick=${() => setCursors([...cursors, page.next_cursor])}>Older →</button>
    </nav>

    <${ConfirmDialog}
      open=${!!pending}
      busy=${busy}
      title=${pending?.action === "delete" ? "Delete this draft?" : "Cancel this communication?"}
      confirmLabel=${pending?.action === "delete" ? "Delete draft" : "Cancel communication"}
      body=${pending
        ? html`${actionError ? html`<${Banner} error=${actionError} />` : null}
            <p><strong>${pending.item.name}</strong></p>
            ${pending.action === "delete"
              ? html`<p>The draft, its audience and its message are deleted. This cannot be undone.</p>`
              : html`<p>Messages not yet sent will not be sent. Messages already handed to a provider still arrive.${" "}<strong>This cannot be undone.</strong></p>`}`
        : null}
      onConfirm=${confirm}
      onCancel=${() => { setPending(null); setActionError(null); }}
    />
  `;
}
