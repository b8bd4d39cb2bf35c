// Who is signed in. The token lives in sessionStorage: it goes when the tab closes.

const TOKEN_KEY = "herald.token";
const PKCE_KEY = "herald.pkce";
const WRITE_PERMISSION = "mass_communications";
const READ_PERMISSION = "mass_communications:read";

export function currentToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim().replace(/^Bearer\s+/i, ""));
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The token's claims, read (not verified: the API verifies) to say who is signed in. */
export function claims(token = currentToken()) {
  if (!token) return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(base64), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function tokenExpired(token = currentToken()) {
  const exp = claims(token)?.exp;
  return typeof exp === "number" && exp * 1000 <= Date.now();
}

export function permissions(c = claims()) {
  const found = new Set();
  const raw = c?.permissions;
  if (typeof raw === "string") raw.split(/\s+/).filter(Boolean).forEach((p) => found.add(p));
  if (Array.isArray(raw)) raw.forEach((p) => found.add(String(p)));
  const groups = c?.["cognito:groups"];
  if (Array.isArray(groups)) groups.forEach((g) => found.add(String(g)));
  return found;
}

export function who(c = claims()) {
  if (!c) return { name: "", role: "none" };
  const name = [c.given_name, c.family_name].filter(Boolean).join(" ") || c.email || c.sub || "";
  const granted = permissions(c);
  const role = granted.has(WRITE_PERMISSION) ? "admin" : granted.has(READ_PERMISSION) ? "viewer" : "none";
  return { name, role };
}

// --- Cognito hosted login: authorization code with PKCE ----------------------------------------

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function redirectUri() {
  return location.origin + location.pathname;
}

export async function startHostedLogin(cognito) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, hash: location.hash }));
  const url = new URL("/oauth2/authorize", cognito.domain);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: cognito.client_id,
    redirect_uri: redirectUri(),
    scope: cognito.scopes || "openid email profile",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

/** After the hosted login redirects back with ?code=…: trade it for tokens, keep the id token. */
export async function finishHostedLogin(cognito) {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  if (!code) return false;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, "", redirectUri() + (saved?.hash || ""));
  if (!saved || saved.state !== params.get("state")) throw new Error("the sign-in answer did not match this tab; try again");
  const response = await fetch(new URL("/oauth2/token", cognito.domain), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: cognito.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  if (!response.ok) throw new Error(`the sign-in could not be completed (HTTP ${response.status})`);
  const tokens = await response.json();
  signIn(tokens.id_token);
  return true;
}

export function hostedLogoutUrl(cognito) {
  const url = new URL("/logout", cognito.domain);
  url.search = new URLSearchParams({ client_id: cognito.client_id, logout_uri: redirectUri() }).toString();
  return url.href;
}
