// Words and numbers as an admin reads them, in the browser's locale.

const numberFormat = new Intl.NumberFormat();
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

export const number = (n) => (n === null || n === undefined ? "" : numberFormat.format(n));

export function percent(value) {
  if (value === null || value === undefined) return "";
  return `${Number.isInteger(value) ? value : value.toFixed(1)}%`;
}

export const date = (iso) => (iso ? dateFormat.format(new Date(iso)) : "");
export const exactDate = (iso) => (iso ? exactFormat.format(new Date(iso)) : "");

export const COMMUNICATION_STATUS = {
  DRAFT: { label: "Draft", tone: "neutral" },
  PENDING_APPROVAL: { label: "Awaiting approval", tone: "warning" },
  SCHEDULED: { label: "Scheduled", tone: "info" },
  IN_PROGRESS: { label: "In progress", tone: "info" },
  PAUSED: { label: "Paused", tone: "warning" },
  COMPLETED: { label: "Completed", tone: "success" },
  FAILED: { label: "Failed", tone: "danger" },
  CANCELLED: { label: "Cancelled", tone: "muted" },
};

// What an admin sees per message: In progress / Delivered / Failed / Skipped / Cancelled.
export const MESSAGE_GROUPS = {
  in_progress: { label: "In progress", tone: "info", statuses: ["QUEUED", "DEFERRED", "SENDING", "UNKNOWN", "SENT"] },
  delivered: { label: "Delivered", tone: "success", statuses: ["DELIVERED"] },
  failed: { label: "Failed", tone: "danger", statuses: ["FAILED", "SEND_FAILED"] },
  skipped: { label: "Skipped", tone: "muted", statuses: ["SKIPPED"] },
  cancelled: { label: "Cancelled", tone: "muted", statuses: ["CANCELLED"] },
};

const MESSAGE_DETAIL = {
  QUEUED: "Queued",
  DEFERRED: "Waiting for contact hours",
  SENDING: "Sending",
  UNKNOWN: "Being confirmed",
  SENT: "Sent, awaiting delivery report",
  DELIVERED: "Delivered",
  FAILED: "Not delivered",
  SEND_FAILED: "Could not be sent",
  SKIPPED: "Skipped",
  CANCELLED: "Cancelled",
};

export function messageStatus(status) {
  for (const group of Object.values(MESSAGE_GROUPS)) {
    if (group.statuses.includes(status)) return { ...group, detail: MESSAGE_DETAIL[status] || status };
  }
  return { label: status, tone: "neutral", detail: status };
}

export const SKIP_REASONS = {
  no_email: "No email address on file",
  no_phone: "No phone number on file",
  invalid_email: "Email address not valid",
  invalid_phone: "Phone number not valid",
  no_preferred_channel: "Prefers none of these channels",
  account_inactive: "Account inactive",
  account_missing: "Account no longer exists",
  suppressed: "On the suppression list",
  expired: "Expired before it could be sent",
};

export const CHANNELS = { email: "Email", sms: "SMS" };

const languageNames = (() => {
  try {
    return new Intl.DisplayNames(undefined, { type: "language" });
  } catch {
    return null;
  }
})();

export function languageName(tag) {
  try {
    const name = languageNames?.of(tag);
    return name && name !== tag ? `${name} (${tag})` : tag;
  } catch {
    return tag;
  }
}

// --- SMS length: GSM-7 when every character is in its alphabet, otherwise UCS-2 -----------------

const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED = "^{}\\[~]|€\f";

export function smsLength(text) {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.includes(ch)) septets += 1;
    else if (GSM_EXTENDED.includes(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) {
    const segments = septets === 0 ? 0 : septets <= 160 ? 1 : Math.ceil(septets / 153);
    return { encoding: "GSM-7", characters: septets, segments, perSegment: septets <= 160 ? 160 : 153 };
  }
  const units = text.length; // UTF-16 code units, as UCS-2 counts them
  const segments = units === 0 ? 0 : units <= 70 ? 1 : Math.ceil(units / 67);
  return { encoding: "Unicode", characters: units, segments, perSegment: units <= 70 ? 70 : 67 };
}

export function errorText(error) {
  if (!error) return "";
  return error.message || String(error);
}
