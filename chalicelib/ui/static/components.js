// Small shared pieces: badges, the progress bar, dialogs, tabs, banners, polling.

import { h } from "preact";
import { useEffect, useRef, useState, useCallback } from "preact/hooks";
import htm from "htm";
import { COMMUNICATION_STATUS, messageStatus, number, percent, errorText } from "./format.js";

export const html = htm.bind(h);

export function StatusBadge({ status }) {
  const known = COMMUNICATION_STATUS[status] || { label: status, tone: "neutral" };
  return html`<span class="badge badge-${known.tone}" data-status=${status}>${known.label}</span>`;
}

export function MessageBadge({ status, error }) {
  const known = messageStatus(status);
  return html`<span class="badge badge-${known.tone}" data-status=${status} title=${error || known.detail}
    >${known.label}</span
  >`;
}

/** Pending / Sent / Failed / Skipped (/ Cancelled) as one bar with a fixed-width legend. */
export function SendProgress({ counts, status }) {
  const c = counts || {};
  const total = c.messages_total || 0;
  const parts = [
    ["sent", "Sent", c.sent || 0],
    ["failed", "Failed", c.send_failed || 0],
    ["skipped", "Skipped", c.skipped || 0],
    ["cancelled", "Cancelled", c.cancelled || 0],
  ];
  const done = total - (c.pending || 0);
  const donePct = total ? Math.round((done * 1000) / total) / 10 : 0;
  const label = status === "IN_PROGRESS" && total === 0 ? "Preparing messages…" : `${percent(donePct)} processed`;
  return html`
    <section class="progress-card" aria-label="Sending progress">
      <div class="progress-head">
        <strong class="progress-label" data-testid="progress-label">${label}</strong>
        <span class="muted">${number(done)} of ${number(total)} messages</span>
      </div>
      <div
        class="progress"
        role="progressbar"
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow=${donePct}
        aria-valuetext=${`${percent(donePct)} processed`}
        data-testid="progress"
      >
        ${parts.map(
          ([key, , value]) =>
            html`<span class="progress-part progress-${key}" style=${{ width: `${total ? (value * 100) / total : 0}%` }}></span>`,
        )}
      </div>
      <dl class="legend">
        <div><dt><i class="dot dot-pending"></i>Pending</dt><dd data-testid="count-pending">${number(c.pending || 0)}</dd></div>
        <div><dt><i class="dot dot-sent"></i>Sent</dt><dd data-testid="count-sent">${number(c.sent || 0)}</dd></div>
        <div><dt><i class="dot dot-failed"></i>Failed</dt><dd data-testid="count-failed">${number(c.send_failed || 0)}</dd></div>
        <div><dt><i class="dot dot-skipped"></i>Skipped</dt><dd data-testid="count-skipped">${number(c.skipped || 0)}</dd></div>
        ${c.cancelled
          ? html`<div><dt><i class="dot dot-cancelled"></i>Cancelled</dt><dd>${number(c.cancelled)}</dd></div>`
          : null}
      </dl>
    </section>
  `;
}

export function Banner({ tone = "danger", title, error, children }) {
  const details = error?.details || [];
  return html`
    <div class="banner banner-${tone}" role=${tone === "danger" ? "alert" : "status"}>
      ${title ? html`<strong>${title}</strong>` : null}
      ${error ? html`<span>${errorText(error)}</span>` : null} ${children}
      ${details.length
        ? html`<ul class="details">
            ${details.slice(0, 20).map((d) => html`<li>${describeDetail(d)}</li>`)}
          </ul>`
        : null}
    </div>
  `;
}

function describeDetail(detail) {
  if (typeof detail !== "object" || detail === null) return String(detail);
  if (detail.line !== undefined) return `Line ${detail.line}: ${detail.error}${detail.value ? ` (${detail.value})` : ""}`;
  if (detail.field) return `${detail.field}: ${detail.error || "invalid"}`;
  return detail.error || detail.message || JSON.stringify(detail);
}

export function Stat({ label, value, tone, testid }) {
  return html`<div class="stat ${tone ? `stat-${tone}` : ""}" data-testid=${testid}>
    <span class="stat-value">${number(value)}</span><span class="stat-label">${label}</span>
  </div>`;
}

/**
 * A modal confirmation; resolves true when confirmed. Native <dialog>: focus stays inside, Escape cancels.
 */
export function ConfirmDialog({ open, title, body, confirmLabel, tone = "danger", busy, onConfirm, onCancel }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return html`
    <dialog ref=${ref} class="dialog" onCancel=${(e) => { e.preventDefault(); onCancel(); }} aria-labelledby="confirm-title">
      <h2 id="confirm-title">${title}</h2>
      <div class="dialog-body">${body}</div>
      <div class="dialog-actions">
        <button type="button" class="button" onClick=${onCancel} disabled=${busy}>Keep it</button>
        <button type="button" class="button button-${tone}" onClick=${onConfirm} disabled=${busy} autofocus>
          ${busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </dialog>
  `;
}

/** A modal dialog for content (a message, a form). */
export function Modal({ open, title, onClose, children, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return html`
    <dialog ref=${ref} class="dialog ${wide ? "dialog-wide" : ""}" onCancel=${(e) => { e.preventDefault(); onClose(); }} aria-label=${title}>
      <div class="dialog-title"><h2>${title}</h2>
        <button type="button" class="button button-ghost" onClick=${onClose} aria-label="Close">✕</button></div>
      ${open ? children : null}
    </dialog>
  `;
}

/** Tabs with arrow-key navigation (WAI-ARIA tabs pattern). */
export function Tabs({ tabs, active, onChange, label }) {
  const onKeyDown = (event) => {
    const index = tabs.findIndex((t) => t.id === active);
    let next = null;
    if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
    if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
    if (event.key === "Home") next = tabs[0];
    if (event.key === "End") next = tabs[tabs.length - 1];
    if (next) {
      event.preventDefault();
      onChange(next.id);
      requestAnimationFrame(() => document.getElementById(`tab-${next.id}`)?.focus());
    }
  };
  return html`
    <div class="tabs" role="tablist" aria-label=${label} onKeyDown=${onKeyDown}>
      ${tabs.map(
        (tab) => html`<button
          type="button"
          role="tab"
          id=${`tab-${tab.id}`}
          aria-selected=${tab.id === active ? "true" : "false"}
          aria-controls=${`panel-${tab.id}`}
          tabindex=${tab.id === active ? 0 : -1}
          class="tab"
          onClick=${() => onChange(tab.id)}
        >
          ${tab.label}${tab.count !== undefined ? html` <span class="tab-count">${number(tab.count)}</span>` : null}
        </button>`,
      )}
    </div>
  `;
}

/** A segmented control (radio group) for small choices: channel, language. */
export function Segmented({ options, value, onChange, label, name }) {
  return html`
    <div class="segmented" role="radiogroup" aria-label=${label}>
      ${options.map(
        (option) => html`<label class=${option.value === value ? "segment segment-on" : "segment"}>
          <input type="radio" name=${name} value=${option.value} checked=${option.value === value}
            onChange=${() => onChange(option.value)} />
          ${option.label}
        </label>`,
      )}
    </div>
  `;
}

/** Run `task` every `ms` while `active`; stops when the tab is hidden and resumes when it shows. */
export function usePolling(task, ms, active) {
  const saved = useRef(task);
  saved.current = task;
  useEffect(() => {
    if (!active) return undefined;
    let timer = null;
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      if (!document.hidden) {
        try {
          await saved.current();
        } catch {
          /* the next tick tries again; the screen shows the last good state */
        }
      }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [active, ms]);
}

/** Load once (and again when `deps` change): { data, error, loading, reload, setData }. */
export function useLoad(loader, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const latest = useRef(0);
  const reload = useCallback(async () => {
    const asked = ++latest.current;
    try {
      const data = await loader();
      if (asked === latest.current) setState({ data, error: null, loading: false }); // else a newer answer is coming
      return data;
    } catch (error) {
      if (asked === latest.current) setState((s) => ({ ...s, error, loading: false }));
      return null;
    }
  }, deps); // eslint-disable-line
  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    reload();
  }, [reload]);
  const setData = (data) => setState((s) => ({ ...s, data: typeof data === "function" ? data(s.data) : data }));
  return { ...state, reload, setData };
}

/** A short-lived note at the bottom of the screen ("Saved", "Cancelled"). */
let toastListener = null;
export function toast(text, tone = "success") {
  if (toastListener) toastListener({ text, tone, at: Date.now() });
}
export function Toasts() {
  const [items, setItems] = useState([]);
  useEffect(() => {
    toastListener = (item) => {
      setItems((list) => [...list, item]);
      setTimeout(() => setItems((list) => list.filter((x) => x !== item)), 4000);
    };
    return () => (toastListener = null);
  }, []);
  return html`<div class="toasts" role="status" aria-live="polite">
    ${items.map((item) => html`<div class="toast toast-${item.tone}">${item.text}</div>`)}
  </div>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty"><strong>${title}</strong><div>${children}</div></div>`;
}

export function Spinner({ label = "Loading…" }) {
  return html`<div class="loading" role="status"><span class="spinner" aria-hidden="true"></span>${label}</div>`;
}

export function navigate(hash) {
  if (location.hash !== hash) location.hash = hash;
}
