// Create / edit a draft in two steps (recipients, message), then Review & send. Autosaved as a draft.

import { useEffect, useRef, useState } from "preact/hooks";
import {
  acceptsJson,
  api,
  downloadBlob,
  has,
  uploadToPresignedPost,
  waitForJob,
} from "./api.js";
import { Banner, ConfirmDialog, Segmented, Spinner, Stat, html, navigate, toast } from "./components.js";
import { CHANNELS, SKIP_REASONS, date, languageName, number, smsLength } from "./format.js";

const STEPS = [
  { id: "recipients", label: "Recipients" },
  { id: "message", label: "Message" },
  { id: "review", label: "Review & send" },
];
const AUTOSAVE_MS = 700;
const BIG_FILE_BYTES = 5 * 1024 * 1024;
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
const PLACEHOLDERS = ["account.first_name", "account.last_name", "account.email", "account.phone", "account.service_area"];

// --- content helpers ----------------------------------------------------------------------------

function languagesOf(comm) {
  const found = [comm.default_language];
  for (const channel of ["email", "sms"]) found.push(...Object.keys(comm.content?.[channel] || {}));
  return [...new Set(found.filter(Boolean))];
}

function emptyEntry(channel) {
  return channel === "email" ? { subject: "", html: "", text: "" } : { body: "" };
}

function entry(content, channel, language) {
  return content?.[channel]?.[language] || emptyEntry(channel);
}

/** The content the server accepts now: complete entries of the chosen languages. */
function savableContent(content, languages) {
  const out = { email: {}, sms: {} };
  for (const language of languages) {
    const email = content.email?.[language];
    if (email && email.subject.trim()) out.email[language] = email;
    const sms = content.sms?.[language];
    if (sms && sms.body.trim()) out.sms[language] = sms;
  }
  return out;
}

function missingContent(draft) {
  const missing = [];
  for (const channel of draft.channels) {
    for (const language of draft.languages) {
      const e = entry(draft.content, channel, language);
      if (channel === "email" && !e.subject.trim()) missing.push(`${CHANNELS.email} subject (${language})`);
      if (channel === "email" && !e.html.trim() && !e.text.trim()) missing.push(`${CHANNELS.email} body (${language})`);
      if (channel === "sms" && !e.body.trim()) missing.push(`${CHANNELS.sms} text (${language})`);
    }
  }
  return missing;
}

// --- the wizard ---------------------------------------------------------------------------------

export function Wizard({ id: initialId, params, canWrite }) {
  const [id, setId] = useState(initialId);
  const [comm, setComm] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [draft, setDraft] = useState({
    name: "",
    channels: ["email"],
    default_language: "en",
    languages: ["en"],
    content: { email: {}, sms: {} },
  });
  const [step, setStep] = useState(params.step || "recipients");
  const [save, setSave] = useState({ state: "idle", at: null, error: null });
  const dirty = useRef(false);
  const timer = useRef(null);
  const latest = useRef(draft);
  latest.current = draft;
  const idRef = useRef(id);
  idRef.current = id;
  const stepRef = useRef(step);
  stepRef.current = step;
  const inflight = useRef(Promise.resolve());

  useEffect(() => {
    if (params.step && STEPS.some((s) => s.id === params.step)) setStep(params.step);
  }, [params.step]);

  useEffect(() => {
    if (!initialId) return;
    api
      .getCommunication(initialId)
      .then((loaded) => {
        setComm(loaded);
        setDraft({
          name: loaded.name,
          channels: loaded.channels,
          default_language: loaded.default_language,
          languages: languagesOf(loaded),
          content: {
            email: { ...(loaded.content?.email || {}) },
            sms: { ...(loaded.content?.sms || {}) },
          },
        });
        if (!params.step && STEPS.some((s) => s.id === loaded.wizard_step)) setStep(loaded.wizard_step);
      })
      .catch(setLoadError);
  }, [initialId]);

  /** Create the draft on first need; afterwards PATCH what changed. Serialised: one request at a time. */
  const persist = () => {
    inflight.current = inflight.current.then(async () => {
      const d = latest.current;
      if (!d.name.trim()) return;
      clearTimeout(timer.current);
      dirty.current = false;
      setSave({ state: "saving", at: null, error: null });
      const body = {
        name: d.name.trim(),
        channels: d.channels,
        default_language: d.default_language,
        content: savableContent(d.content, d.languages),
        wizard_step: stepRef.current,
      };
      try {
        const saved = idRef.current
          ? await api.patchCommunication(idRef.current, body)
          : await api.createCommunication(body);
        if (!idRef.current) {
          idRef.current = saved.id;
          setId(saved.id);
          history.replaceState(null, "", `#/communications/${saved.id}/edit`);
        }
        setComm(saved);
        setSave({ state: "saved", at: new Date(), error: null });
      } catch (error) {
        dirty.current = true;
        setSave({ state: "error", at: null, error });
      }
    });
    return inflight.current;
  };

  const change = (patch) => {
    setDraft((d) => ({ ...d, ...(typeof patch === "function" ? patch(d) : patch) }));
    dirty.current = true;
    clearTimeout(timer.current);
    timer.current = setTimeout(persist, AUTOSAVE_MS);
  };

  const ensureSaved = async () => {
    if (dirty.current || !idRef.current) await persist();
    else await inflight.current;
    return idRef.current;
  };

  const goTo = async (next) => {
    setStep(next);
    stepRef.current = next;
    if (latest.current.name.trim()) await persist();
    window.scrollTo(0, 0);
  };

  // Leaving the wizard (another screen, a reload, a closed tab) saves what the debounce still holds.
  useEffect(() => {
    const flush = () => {
      if (!dirty.current || !idRef.current || !latest.current.name.trim()) return;
      clearTimeout(timer.current);
      dirty.current = false;
      const d = latest.current;
      api.patchCommunication(
        idRef.current,
        {
          name: d.name.trim(),
          channels: d.channels,
          default_language: d.default_language,
          content: savableContent(d.content, d.languages),
          wizard_step: stepRef.current,
        },
        { keepalive: true },
      ).catch(() => {});
    };
    window.addEventListener("pagehide", flush);
    return () => {
      window.removeEventListener("pagehide", flush);
      flush();
    };
  }, []);

  if (!canWrite) {
    return html`<${Banner} tone="warning" title="Read-only access.">Viewers can look at communications but not create or change them.</${Banner}>`;
  }
  if (loadError) return html`<${Banner} title="This communication could not be loaded." error=${loadError} />`;
  if (initialId && !comm) return html`<${Spinner} />`;
  if (comm && comm.status !== "DRAFT") {
    return html`<${Banner} tone="info" title="This communication is no longer a draft.">
      <a href=${`#/communications/${comm.id}`}>See how it is going</a>.</${Banner}>`;
  }

  const savedNote =
    save.state === "saving"
      ? "Saving…"
      : save.state === "saved"
        ? `Draft saved at ${save.at.toLocaleTimeString()}`
        : save.state === "error"
          ? "Not saved"
          : id
            ? "Draft saved"
            : "Name it to save a draft";

  return html`
    <div class="page-head">
      <div>
        <a href="#/" class="back">← Mass communications</a>
        <h1>${initialId ? "Edit communication" : "New communication"}</h1>
      </div>
      <span class=${`save-state save-${save.state}`} role="status" data-testid="save-state">${savedNote}</span>
    </div>

    <label class="field name-field">
      <span>Communication name <span class="muted">(internal; recipients never see it)</span></span>
      <input name="name" value=${draft.name} required maxlength="200" placeholder="e.g. Fibre maintenance, 12 March"
        onInput=${(e) => change({ name: e.target.value })} onBlur=${() => dirty.current && persist()} />
    </label>
    ${save.state === "error" ? html`<${Banner} title="The draft could not be saved." error=${save.error} />` : null}

    <ol class="stepper" aria-label="Steps">
      ${STEPS.map(
        (s, i) => html`<li class=${s.id === step ? "step step-on" : "step"}>
          <button type="button" aria-current=${s.id === step ? "step" : null} disabled=${!id && i > 0}
            onClick=${() => goTo(s.id)}><span class="step-number">${i + 1}</span> ${s.label}</button>
        </li>`,
      )}
    </ol>

    ${step === "recipients"
      ? html`<${RecipientsStep} comm=${comm} ensureSaved=${ensureSaved} hasName=${!!draft.name.trim()}
          onAudience=${(updated) => setComm(updated)} onNext=${() => goTo("message")} />`
      : step === "message"
        ? html`<${MessageStep} id=${id} draft=${draft} change=${change} ensureSaved=${ensureSaved}
            onBack=${() => goTo("recipients")} onNext=${() => goTo("review")} />`
        : html`<${ReviewStep} id=${id} comm=${comm} draft=${draft} ensureSaved=${ensureSaved} onBack=${() => goTo("message")} />`}
  `;
}

// --- step 1: recipients -------------------------------------------------------------------------

function RecipientsStep({ comm, ensureSaved, hasName, onAudience, onNext }) {
  const filtersOffered = acceptsJson("PUT", "/communications/{id}/audience");
  const [mode, setMode] = useState(comm?.audience?.source === "filter" && filtersOffered ? "filter" : "csv");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null); // {label, progress?}
  const [dragging, setDragging] = useState(false);
  const [filter, setFilter] = useState(() => {
    const f = comm?.audience?.filter || {};
    return {
      service_area: (f.service_area || []).join(", "),
      network_provider: (f.network_provider || []).join(", "),
      segment: (f.segment || []).join(", "),
    };
  });
  const audience = comm?.audience;

  const refresh = async (id) => {
    const updated = await api.getCommunication(id);
    onAudience(updated);
    return updated;
  };

  const upload = async (file) => {
    setError(null);
    setResult(null);
    if (!hasName) {
      setError(new Error("Name the communication first, so the draft can be saved."));
      return;
    }
    try {
      const id = await ensureSaved();
      if (file.size > BIG_FILE_BYTES && has("POST", "/communications/{id}/audience/upload-url")) {
        setBusy({ label: `Uploading ${file.name}`, progress: 0 });
        const target = await api.audienceUploadUrl(id);
        await uploadToPresignedPost(target, file, (progress) => setBusy({ label: `Uploading ${file.name}`, progress }));
        setBusy({ label: "Checking every line…" });
        for (;;) {
          const updated = await refresh(id);
          const state = updated.audience?.state;
          if (state === "ready" || state === "failed") {
            if (state === "failed") throw new Error("The file could not be imported.");
            setResult({ ...updated.audience, errors: [], errors_url: updated.audience.errors_url });
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      } else {
        setBusy({ label: `Checking ${file.name}…` });
        setResult(await api.putAudienceCsv(id, file));
        await refresh(id);
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const applyFilter = async (event) => {
    event.preventDefault();
    setError(null);
    setResult(null);
    const split = (text) => text.split(",").map((v) => v.trim()).filter(Boolean);
    const body = Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, split(v)]).filter(([, v]) => v.length));
    if (!hasName) return setError(new Error("Name the communication first, so the draft can be saved."));
    try {
      setBusy({ label: "Finding the accounts…" });
      const id = await ensureSaved();
      setResult(await api.putAudienceFilter(id, body));
      await refresh(id);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const downloadTemplate = async () => {
    try {
      downloadBlob(await api.audienceTemplate(), "audience.csv");
    } catch (e) {
      setError(e);
    }
  };

  const lineErrors = result?.errors?.length ? result.errors : error?.details?.filter((d) => d.line !== undefined) || [];

  return html`
    <section class="card" aria-labelledby="recipients-title">
      <h2 id="recipients-title">Who receives it</h2>
      ${filtersOffered
        ? html`<${Segmented} name="audience-mode" label="Choose recipients by" value=${mode} onChange=${setMode}
            options=${[{ value: "csv", label: "Upload a CSV" }, { value: "filter", label: "Choose by account attributes" }]} />`
        : null}

      ${mode === "csv"
        ? html`
            <p class="muted">
              A CSV with one account UUID per line, under a header such as <code>account_id</code>. Other columns are ignored,
              so an accounts export uploads as it is.${" "}<button type="button" class="link" onClick=${downloadTemplate}>Download a blank template</button>
            </p>
            <label
              class=${`dropzone ${dragging ? "dropzone-over" : ""}`}
              data-testid="dropzone"
              onDragOver=${(e) => { e.preventDefault(); setDragging(true); }}
              onDragLeave=${() => setDragging(false)}
              onDrop=${(e) => { e.preventDefault(); setDragging(false); const f = e.dataTransfer.files[0]; if (f) upload(f); }}
            >
              <input type="file" accept=".csv,text/csv" class="visually-hidden-input" data-testid="csv-input"
                onChange=${(e) => { const f = e.target.files[0]; e.target.value = ""; if (f) upload(f); }} />
              <strong>Drop a CSV here</strong> <span class="muted">or</span> <span class="button">Choose a file</span>
              <span class="muted small">Files over 5 MB upload in the background with progress.</span>
            </label>
          `
        : html`
            <form class="form filter-form" onSubmit=${applyFilter}>
              <p class="muted">Accounts matching every field you fill in (values separated by commas match any of them).</p>
              ${[
                ["service_area", "Service area", "e.g. North, Downtown"],
                ["network_provider", "Network provider", "e.g. FibreCo"],
                ["segment", "Segment", "e.g. residential"],
              ].map(
                ([key, label, hint]) => html`<label>${label}
                  <input name=${key} value=${filter[key]} placeholder=${hint}
                    onInput=${(e) => setFilter({ ...filter, [key]: e.target.value })} /></label>`,
              )}
              <button type="submit" class="button button-primary" disabled=${!!busy}>Use these accounts</button>
            </form>
          `}

      ${busy
        ? html`<div class="busy" role="status">
            <span>${busy.label}</span>
            ${busy.progress !== undefined
              ? html`<progress max="1" value=${busy.progress} aria-label="Upload progress"></progress>
                  <span class="num">${Math.round(busy.progress * 100)}%</span>`
              : html`<span class="spinner" aria-hidden="true"></span>`}
          </div>`
        : null}
      ${error ? html`<${Banner} title="The audience was not changed." error=${error.details?.some((d) => d.line !== undefined) ? { message: error.message } : error} />` : null}

      ${result || audience?.accepted
        ? html`<div class="stats" data-testid="audience-stats">
            <${Stat} label="Accepted" value=${(result || audience).accepted} tone="success" testid="accepted" />
            <${Stat} label="Duplicates" value=${(result || audience).duplicates} testid="duplicates" />
            <${Stat} label="Rejected" value=${(result || audience).rejected} tone=${(result || audience).rejected ? "danger" : ""} testid="rejected" />
          </div>`
        : null}
      ${lineErrors.length
        ? html`<div class="table-wrap">
            <table class="table compact" data-testid="line-errors">
              <caption>Rejected lines${result && result.rejected > lineErrors.length ? ` (first ${number(lineErrors.length)} of ${number(result.rejected)})` : ""}</caption>
              <thead><tr><th scope="col">Line</th><th scope="col">Value</th><th scope="col">Why</th></tr></thead>
              <tbody>
                ${lineErrors.map((e) => html`<tr><td class="num">${e.line}</td><td><code>${e.value}</code></td><td>${e.error}</td></tr>`)}
              </tbody>
            </table>
          </div>`
        : null}
      ${result?.errors_url ? html`<p><a href=${result.errors_url}>Download the rejected lines</a></p>` : null}
    </section>
    <div class="actions-bar">
      <span></span>
      <button type="button" class="button button-primary" onClick=${onNext} disabled=${!comm}>Next: message →</button>
    </div>
  `;
}

// --- step 2: message ----------------------------------------------------------------------------

function TemplatePicker({ draft, change }) {
  const [templates, setTemplates] = useState(null);
  const [choice, setChoice] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    api.listTemplates().then((r) => setTemplates(r.items || r || []), setError);
  }, []);
  const hasContent = draft.languages.some((l) => entry(draft.content, "email", l).subject || entry(draft.content, "sms", l).body);
  const apply = async () => {
    setConfirming(false);
    try {
      const template = await api.getTemplate(choice);
      const content = { email: { ...(template.content?.email || {}) }, sms: { ...(template.content?.sms || {}) } };
      const languages = [...new Set([template.default_language, ...Object.keys(content.email), ...Object.keys(content.sms)])];
      change({ content, languages, default_language: template.default_language || languages[0] });
      toast(`Started from “${template.name}”. Changes here don't change the template.`);
    } catch (e) {
      setError(e);
    }
  };
  return html`
    <div class="template-picker">
      <label class="inline">Start from
        <select value=${choice} onChange=${(e) => setChoice(e.target.value)} data-testid="template-select">
          <option value="">a blank message</option>
          ${(templates || []).map((t) => html`<option value=${t.id}>${t.name}</option>`)}
        </select>
      </label>
      <button type="button" class="button" disabled=${!choice} onClick=${() => (hasContent ? setConfirming(true) : apply())}>Use template</button>
      ${error ? html`<${Banner} error=${error} />` : null}
      <${ConfirmDialog} open=${confirming} title="Replace the message?" tone="primary" confirmLabel="Replace"
        body=${html`<p>The template's content replaces what you have written here.</p>`}
        onConfirm=${apply} onCancel=${() => setConfirming(false)} />
    </div>
  `;
}

function LanguageEditor({ draft, change }) {
  const [adding, setAdding] = useState("");
  const [problem, setProblem] = useState("");
  const add = (event) => {
    event.preventDefault();
    const tag = adding.trim();
    if (!LANGUAGE_TAG.test(tag)) return setProblem("Use a language tag such as fr or fr-CA.");
    if (draft.languages.includes(tag)) return setProblem(`${tag} is already there.`);
    setProblem("");
    setAdding("");
    change((d) => ({ languages: [...d.languages, tag] }));
  };
  const remove = (tag) =>
    change((d) => ({
      languages: d.languages.filter((l) => l !== tag),
      default_language: d.default_language === tag ? d.languages.find((l) => l !== tag) : d.default_language,
    }));
  return html`
    <fieldset class="fieldset">
      <legend>Languages</legend>
      <ul class="chips">
        ${draft.languages.map(
          (tag) => html`<li class="chip">
            <label><input type="radio" name="default-language" checked=${draft.default_language === tag}
              onChange=${() => change({ default_language: tag })} /> ${languageName(tag)}
              ${draft.default_language === tag ? html`<span class="chip-note">default</span>` : null}</label>
            ${draft.languages.length > 1
              ? html`<button type="button" class="chip-remove" aria-label=${`Remove ${tag}`} onClick=${() => remove(tag)}>✕</button>`
              : null}
          </li>`,
        )}
      </ul>
      <form class="inline-form" onSubmit=${add}>
        <input aria-label="Add a language (tag)" placeholder="Add a language: fr, fr-CA…" value=${adding}
          onInput=${(e) => setAdding(e.target.value)} size="22" data-testid="add-language" />
        <button type="submit" class="button">Add</button>
      </form>
      ${problem ? html`<p class="field-error">${problem}</p>` : null}
      <p class="muted small">Each account gets its own language, then its base language (fr-CA → fr), then the default.</p>
    </fieldset>
  `;
}

function MessageStep({ id, draft, change, ensureSaved, onBack, onNext }) {
  const [channel, setChannel] = useState(draft.channels[0]);
  const [language, setLanguage] = useState(draft.default_language);
  const activeChannel = draft.channels.includes(channel) ? channel : draft.channels[0];
  const activeLanguage = draft.languages.includes(language) ? language : draft.default_language;
  const current = entry(draft.content, activeChannel, activeLanguage);

  const setField = (field, value) =>
    change((d) => ({
      content: {
        ...d.content,
        [activeChannel]: {
          ...d.content[activeChannel],
          [activeLanguage]: { ...entry(d.content, activeChannel, activeLanguage), [field]: value },
        },
      },
    }));

  const toggleChannel = (name, on) =>
    change((d) => {
      const channels = on ? [...new Set([...d.channels, name])] : d.channels.filter((c) => c !== name);
      return { channels: channels.length ? ["email", "sms"].filter((c) => channels.includes(c)) : d.channels };
    });

  const sms = activeChannel === "sms" ? smsLength(current.body) : null;

  return html`
    <div class="message-layout">
      <section class="card" aria-labelledby="message-title">
        <h2 id="message-title">The message</h2>
        <fieldset class="fieldset">
          <legend>Channels</legend>
          ${["email", "sms"].map(
            (name) => html`<label class="check"><input type="checkbox" name=${`channel-${name}`} checked=${draft.channels.includes(name)}
              onChange=${(e) => toggleChannel(name, e.target.checked)} /> ${CHANNELS[name]}</label>`,
          )}
          <p class="muted small">An account that prefers both gets both; one that prefers neither is reported as skipped.</p>
        </fieldset>
        <${LanguageEditor} draft=${draft} change=${change} />
        ${has("GET", "/templates") ? html`<${TemplatePicker} draft=${draft} change=${change} />` : null}

        <div class="editor-switch">
          ${draft.channels.length > 1
            ? html`<${Segmented} name="edit-channel" label="Channel to edit" value=${activeChannel} onChange=${setChannel}
                options=${draft.channels.map((c) => ({ value: c, label: CHANNELS[c] }))} />`
            : null}
          ${draft.languages.length > 1
            ? html`<${Segmented} name="edit-language" label="Language to edit" value=${activeLanguage} onChange=${setLanguage}
                options=${draft.languages.map((l) => ({ value: l, label: l }))} />`
            : null}
        </div>

        <div class="editor" data-testid=${`editor-${activeChannel}-${activeLanguage}`}>
          ${activeChannel === "email"
            ? html`
                <label class="field"><span>Subject <span class="muted">· ${languageName(activeLanguage)}</span></span>
                  <input name="subject" value=${current.subject} maxlength="998" onInput=${(e) => setField("subject", e.target.value)} />
                </label>
                <label class="field">HTML body
                  <textarea name="html" rows="9" class="code" spellcheck="false" value=${current.html}
                    onInput=${(e) => setField("html", e.target.value)}></textarea>
                </label>
                <label class="field"><span>Plain-text body <span class="muted">· for mail apps that don't show HTML</span></span>
                  <textarea name="text" rows="5" value=${current.text} onInput=${(e) => setField("text", e.target.value)}></textarea>
                </label>
              `
            : html`
                <label class="field"><span>SMS text <span class="muted">· ${languageName(activeLanguage)}</span></span>
                  <textarea name="sms" rows="5" maxlength="1600" value=${current.body} onInput=${(e) => setField("body", e.target.value)}></textarea>
                </label>
                <p class="sms-meter" data-testid="sms-meter" aria-live="polite">
                  <span class="num">${number(sms.characters)}</span> characters · <span class="num">${number(sms.segments)}</span>${" "}${sms.segments === 1 ? "segment" : "segments"} · ${sms.encoding}${" "}<span class="muted">(${sms.perSegment} per segment, before placeholders are filled in)</span>
                </p>
              `}
          <p class="muted small">Placeholders: ${PLACEHOLDERS.map((p) => html`<code>{{ ${p} }}</code> `)}</p>
        </div>
      </section>
      ${has("POST", "/communications/{id}/preview")
        ? html`<${PreviewPanel} id=${id} draft=${draft} channel=${activeChannel} ensureSaved=${ensureSaved} />`
        : null}
    </div>
    <div class="actions-bar">
      <button type="button" class="button" onClick=${onBack}>← Recipients</button>
      <button type="button" class="button button-primary" onClick=${onNext}>Next: review & send →</button>
    </div>
  `;
}

function normalisePreview(result) {
  if (!result) return [];
  const list = Array.isArray(result) ? result : result.messages || result.items || null;
  if (list) return list;
  const out = [];
  for (const channel of ["email", "sms"]) {
    if (result[channel]) out.push({ channel, language: result.language, ...result[channel] });
  }
  return out.length ? out : [result];
}

function RenderedMessage({ message }) {
  const c = message.content || message.rendered || message;
  const skipped = message.skip_reason || message.skipped || message.status === "SKIPPED";
  return html`
    <article class="rendered" data-testid=${`preview-${message.channel}`}>
      <header class="rendered-head">
        <strong>${CHANNELS[message.channel] || message.channel}</strong>
        ${message.language ? html`<span class="muted">${languageName(message.language)}</span>` : null}
        ${message.address ? html`<span class="muted">to ${message.address}</span>` : null}
      </header>
      ${skipped
        ? html`<p class="muted">Would be skipped: ${SKIP_REASONS[message.skip_reason] || message.error || message.skip_reason}</p>`
        : message.channel === "sms"
          ? html`<div class="sms-bubble">${c.body}</div>`
          : html`
              <div class="email-subject"><span class="muted">Subject</span> ${c.subject}</div>
              ${c.html
                ? html`<iframe class="email-frame" sandbox="" title="Email as the recipient sees it" srcdoc=${c.html}></iframe>`
                : null}
              ${c.text ? html`<details><summary>Plain-text version</summary><pre class="email-text">${c.text}</pre></details>` : null}
            `}
    </article>
  `;
}

function PreviewPanel({ id, draft, channel, ensureSaved }) {
  const [accounts, setAccounts] = useState([]);
  const [accountId, setAccountId] = useState("");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  useEffect(() => {
    api.listAccounts({ limit: 50 }).then((r) => {
      setAccounts(r.items || []);
      if (!accountId && r.items?.length) setAccountId(r.items[0].account_id);
    }, () => {});
  }, []);
  useEffect(() => {
    if (!id || !accountId) return undefined;
    const handle = setTimeout(async () => {
      setLoading(true);
      try {
        const savedId = await ensureSaved();
        setResult(await api.preview(savedId, { account_id: accountId.trim(), channel }));
        setError(null);
      } catch (e) {
        setError(e);
      } finally {
        setLoading(false);
      }
    }, 900);
    return () => clearTimeout(handle);
  }, [id, accountId, channel, JSON.stringify(draft.content), draft.default_language]);
  return html`
    <aside class="card preview" aria-labelledby="preview-title">
      <h2 id="preview-title">Preview ${loading ? html`<span class="spinner" aria-hidden="true"></span>` : null}</h2>
      <label class="field">For account
        <input list="preview-accounts" value=${accountId} placeholder="Account UUID" spellcheck="false"
          onChange=${(e) => setAccountId(e.target.value)} data-testid="preview-account" />
        ${(() => {
          const chosen = accounts.find((a) => a.account_id === accountId.trim());
          return chosen ? html`<span class="muted small">${chosen.first_name} ${chosen.last_name} · ${chosen.language} · ${chosen.channels.join(", ")}</span>` : null;
        })()}
        <datalist id="preview-accounts">
          ${accounts.map((a) => html`<option value=${a.account_id}>${a.first_name} ${a.last_name} · ${a.language}</option>`)}
        </datalist>
      </label>
      ${!id ? html`<p class="muted">Name the communication to see a preview.</p>` : null}
      ${error ? html`<${Banner} error=${error} />` : null}
      ${normalisePreview(result).map((m) => html`<${RenderedMessage} message=${m} />`)}
    </aside>
  `;
}

// --- step 3: review & send ----------------------------------------------------------------------

function flatten(value, prefix = "") {
  if (value === null || value === undefined) return [];
  if (typeof value === "number") return [[prefix, value]];
  if (typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const label = CHANNELS[key] || SKIP_REASONS[key] || key;
    return flatten(v, prefix ? `${prefix} · ${label}` : label);
  });
}

function SummaryTable({ title, value, testid }) {
  const rows = flatten(value).filter(([label]) => label);
  if (!rows.length) return null;
  return html`<table class="table compact summary" data-testid=${testid}>
    <caption>${title}</caption>
    <tbody>${rows.map(([label, n]) => html`<tr><th scope="row">${label}</th><td class="num">${number(n)}</td></tr>`)}</tbody>
  </table>`;
}

function DryRun({ id, ensureSaved }) {
  const [state, setState] = useState({ loading: true, result: null, error: null, progress: null });
  const run = async () => {
    setState({ loading: true, result: null, error: null, progress: null });
    try {
      const savedId = await ensureSaved();
      let result = await api.dryRun(savedId);
      if (result && result.job_id && result.messages_total === undefined) {
        result = await waitForJob(result.job_id, (progress) => setState((s) => ({ ...s, progress })));
      }
      setState({ loading: false, result, error: null, progress: null });
    } catch (error) {
      setState({ loading: false, result: null, error, progress: null });
    }
  };
  useEffect(() => {
    run();
  }, [id]);
  const r = state.result;
  const skippedTotal = r ? flatten(r.skipped).reduce((sum, [, n]) => sum + n, 0) : 0;
  return html`
    <section class="card" aria-labelledby="dry-run-title" data-testid="dry-run">
      <div class="card-head">
        <h2 id="dry-run-title">Dry run</h2>
        <button type="button" class="button" onClick=${run} disabled=${state.loading}>Run again</button>
      </div>
      <p class="muted">What sending now would do, account by account, without sending anything.</p>
      ${state.loading ? html`<${Spinner} label=${state.progress ? `Counting… ${Math.round(state.progress * 100)}%` : "Counting…"} />` : null}
      ${state.error ? html`<${Banner} title="The dry run did not complete." error=${state.error} />` : null}
      ${r
        ? html`
            <div class="stats">
              <${Stat} label="Messages" value=${r.messages_total} testid="dry-run-total" />
              <${Stat} label="Would be skipped" value=${skippedTotal} tone=${skippedTotal ? "warning" : ""} testid="dry-run-skipped" />
              <${Stat} label="Language fallbacks" value=${flatten(r.fallbacks).reduce((s, [, n]) => s + n, 0)} testid="dry-run-fallbacks" />
            </div>
            <div class="summary-grid">
              <${SummaryTable} title="By channel" value=${r.by_channel} testid="by-channel" />
              <${SummaryTable} title="By language" value=${r.by_language} testid="by-language" />
              <${SummaryTable} title="Skipped, by reason" value=${r.skipped} testid="skipped-by-reason" />
              <${SummaryTable} title="Fallbacks" value=${typeof r.fallbacks === "object" ? r.fallbacks : null} />
            </div>
          `
        : null}
    </section>
  `;
}

function TestSend({ id, ensureSaved }) {
  const [to, setTo] = useState("");
  const [state, setState] = useState({ busy: false, error: null, done: null });
  const submit = async (event) => {
    event.preventDefault();
    const value = to.trim();
    const body = value.includes("@") ? { email: value } : /^\+\d+$/.test(value) ? { phone: value } : { account_id: value };
    setState({ busy: true, error: null, done: null });
    try {
      await api.testSend(await ensureSaved(), body);
      setState({ busy: false, error: null, done: value });
    } catch (error) {
      setState({ busy: false, error, done: null });
    }
  };
  return html`
    <form class="inline-form test-send" onSubmit=${submit}>
      <label class="inline">Send a test to
        <input value=${to} onInput=${(e) => setTo(e.target.value)} placeholder="you@example.com, +15145550100 or an account UUID" size="40" required />
      </label>
      <button type="submit" class="button" disabled=${state.busy}>${state.busy ? "Sending…" : "Send test"}</button>
      ${state.done ? html`<span class="success-text" role="status">Test sent to ${state.done}.</span>` : null}
      ${state.error ? html`<${Banner} error=${state.error} />` : null}
    </form>
  `;
}

function ReviewStep({ id, comm, draft, ensureSaved, onBack }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [sendAt, setSendAt] = useState("");
  const missing = missingContent(draft);
  const accepted = comm?.audience?.accepted || 0;
  const canSchedule = has("POST", "/communications/{id}/schedule");

  const sendNow = async () => {
    setBusy(true);
    setError(null);
    try {
      const savedId = await ensureSaved();
      await api.send(savedId);
      toast("Sending started.");
      navigate(`#/communications/${savedId}`);
    } catch (e) {
      setError(e);
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };

  const schedule = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const savedId = await ensureSaved();
      const when = new Date(sendAt);
      await api.schedule(savedId, when.toISOString().replace(/\.\d{3}Z$/, "Z"));
      toast(`Scheduled for ${date(when.toISOString())}.`);
      navigate(`#/communications/${savedId}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`
    <section class="card" aria-labelledby="review-title">
      <h2 id="review-title">Review</h2>
      <dl class="facts">
        <div><dt>Name</dt><dd>${draft.name}</dd></div>
        <div><dt>Recipients</dt><dd>${number(accepted)} accounts${comm?.audience?.source === "filter" ? " (by attributes)" : comm?.audience?.source === "csv" ? " (from a CSV)" : ""}</dd></div>
        <div><dt>Channels</dt><dd>${draft.channels.map((c) => CHANNELS[c]).join(" and ")}</dd></div>
        <div><dt>Languages</dt><dd>${draft.languages.map(languageName).join(", ")} — default ${draft.default_language}</dd></div>
      </dl>
      ${!accepted ? html`<${Banner} tone="warning" title="No recipients yet.">Upload a CSV on the Recipients step.</${Banner}>` : null}
      ${missing.length ? html`<${Banner} tone="warning" title="The message is incomplete:">${missing.join(", ")}.</${Banner}>` : null}
    </section>
    ${has("POST", "/communications/{id}/dry-run") && id ? html`<${DryRun} id=${id} ensureSaved=${ensureSaved} />` : null}
    ${error ? html`<${Banner} title="Not sent." error=${error} />` : null}
    <section class="card send-card" aria-label="Send">
      ${has("POST", "/communications/{id}/test-send") && id ? html`<${TestSend} id=${id} ensureSaved=${ensureSaved} />` : null}
      <div class="send-row">
        <button type="button" class="button" onClick=${onBack}>← Message</button>
        <div class="send-buttons">
          ${canSchedule
            ? html`<form class="inline-form" onSubmit=${schedule}>
                <label class="inline">Send at <input type="datetime-local" value=${sendAt} required onInput=${(e) => setSendAt(e.target.value)} /></label>
                <button type="submit" class="button" disabled=${busy || !sendAt}>Schedule</button>
              </form>`
            : null}
          <button type="button" class="button button-primary button-large" onClick=${() => setConfirming(true)} disabled=${busy || !id}>Send now</button>
        </div>
      </div>
    </section>
    <${ConfirmDialog}
      open=${confirming}
      busy=${busy}
      tone="primary"
      title="Send this communication now?"
      confirmLabel="Send now"
      body=${html`<p><strong>${draft.name}</strong> goes to <strong>${number(accepted)}</strong> accounts by ${draft.channels.map((c) => CHANNELS[c]).join(" and ")}. Once sent, messages can't be recalled.</p>`}
      onConfirm=${sendNow}
      onCancel=${() => setConfirming(false)}
    />
  `;
}

