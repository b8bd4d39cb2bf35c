// Herald admin: boot, sign-in, the permission check and the hash router.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, configureApi, loadCapabilities, onUnauthorized, request } from "./api.js";
import {
  currentToken,
  finishHostedLogin,
  hostedLogoutUrl,
  signIn,
  signOut,
  startHostedLogin,
  tokenExpired,
  who,
} from "./auth.js";
import { Banner, Spinner, Toasts, html } from "./components.js";
import { CommunicationList } from "./list.js";
import { Wizard } from "./wizard.js";
import { Detail } from "./detail.js";

function parseRoute() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = Object.fromEntries(new URLSearchParams(query));
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "new") return { screen: "wizard", id: null, params };
  if (parts[0] === "communications" && parts[1]) {
    return { screen: parts[2] === "edit" ? "wizard" : "detail", id: decodeURIComponent(parts[1]), params };
  }
  return { screen: "list", params };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute);
  useEffect(() => {
    const onChange = () => {
      setRoute(parseRoute());
      window.scrollTo(0, 0);
    };
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

function SignIn({ config, notice }) {
  const [name, setName] = useState("Ada Lovelace");
  const [role, setRole] = useState("admin");
  const [pasted, setPasted] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const dev = config.auth_mode !== "cognito";

  const mint = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { token } = await api.mintDevToken(name, role);
      signIn(token);
      location.reload();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  const usePasted = (event) => {
    event.preventDefault();
    signIn(pasted);
    location.reload();
  };

  return html`
    <main class="signin" id="main">
      <div class="signin-card">
        <div class="brand brand-large"><span class="brand-mark" aria-hidden="true">◆</span> Herald</div>
        <h1>Sign in to Mass Communications</h1>
        ${notice ? html`<${Banner} tone="warning">${notice}</${Banner}>` : null}
        ${error ? html`<${Banner} error=${error} />` : null}
        ${dev
          ? html`
              ${config.dev_token
                ? html`<p class="muted">This is a local stack: sign in as anyone with a development token.</p>
              <form onSubmit=${mint} class="form">
                <label>Your name<input name="name" value=${name} onInput=${(e) => setName(e.target.value)} required autocomplete="name" /></label>
                <label>Access
                  <select name="role" value=${role} onChange=${(e) => setRole(e.target.value)}>
                    <option value="admin">Mass Communications (can send)</option>
                    <option value="viewer">Mass Communications, read only</option>
                    <option value="none">No Mass Communications permission</option>
                  </select>
                </label>
                <button class="button button-primary" type="submit" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
              </form>`
                : null}
              <details class="paste" open=${!config.dev_token}>
                <summary>Paste a token instead</summary>
                <form onSubmit=${usePasted} class="form">
                  <label>Token (from <code>make token</code>)
                    <textarea name="token" rows="4" value=${pasted} onInput=${(e) => setPasted(e.target.value)} required spellcheck="false"></textarea>
                  </label>
                  <button class="button" type="submit">Use this token</button>
                </form>
              </details>
            `
          : html`
              <p class="muted">Sign in with your organization account.</p>
              <button class="button button-primary" type="button" onClick=${() => startHostedLogin(config.cognito)}>
                Continue to sign-in
              </button>
            `}
      </div>
    </main>
  `;
}

function Forbidden({ person, onSignOut }) {
  return html`
    <main class="page narrow" id="main">
      <section class="forbidden" data-testid="forbidden">
        <div class="forbidden-icon" aria-hidden="true">🔒</div>
        <h1>You need the Mass Communications permission</h1>
        <p>
          You are signed in as${" "}<strong>${person.name || "an unnamed user"}</strong>, but your account does not have the${" "}<strong>Admin › Mass Communications</strong> permission, so Herald can't show or send communications for you.
        </p>
        <p class="muted">Ask an administrator of your organization to grant it, then sign in again.</p>
        <button class="button" type="button" onClick=${onSignOut}>Sign in as someone else</button>
      </section>
    </main>
  `;
}

function Header({ person, onSignOut }) {
  const roleLabel = person.role === "admin" ? "Admin" : person.role === "viewer" ? "Viewer" : "";
  return html`
    <header class="topbar">
      <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to content</a>
      <a class="brand" href="#/"><span class="brand-mark" aria-hidden="true">◆</span> Herald</a>
      <nav aria-label="Main"><a href="#/" class="nav-link">Mass communications</a></nav>
      <div class="whoami">
        <span class="muted">Signed in as</span> <strong data-testid="signed-in-as">${person.name}</strong>
        ${roleLabel ? html`<span class="role">${roleLabel}</span>` : null}
        <button class="button button-ghost" type="button" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
  `;
}

function App({ config }) {
  const route = useRoute();
  const [access, setAccess] = useState({ state: "checking" });
  const [notice, setNotice] = useState(null);

  const doSignOut = () => {
    signOut();
    if (config.auth_mode === "cognito" && config.cognito) location.assign(hostedLogoutUrl(config.cognito));
    else setAccess({ state: "signed-out" });
  };

  useEffect(
    () =>
      onUnauthorized((error) => {
        signOut();
        setNotice(error.message || "Your session has ended; sign in again.");
        setAccess({ state: "signed-out" });
      }),
    [],
  );

  useEffect(() => {
    (async () => {
      if (!currentToken()) return setAccess({ state: "signed-out" });
      if (tokenExpired()) {
        signOut();
        setNotice("Your session has expired; sign in again.");
        return setAccess({ state: "signed-out" });
      }
      try {
        await request("GET", "/communications", { query: { limit: 1 } });
        setAccess({ state: "ok", person: who() });
      } catch (error) {
        if (error.status === 403) setAccess({ state: "forbidden", person: who() });
        else if (error.status !== 401) setAccess({ state: "error", error });
      }
    })();
  }, []);

  if (access.state === "checking") return html`<${Spinner} label="Signing in…" />`;
  if (access.state === "signed-out") return html`<${SignIn} config=${config} notice=${notice} />`;
  if (access.state === "error") {
    return html`<main class="page narrow" id="main"><${Banner} title="Herald could not be reached." error=${access.error} /></main>`;
  }
  const person = access.person;
  if (access.state === "forbidden") {
    return html`<${Header} person=${person} onSignOut=${doSignOut} /><${Forbidden} person=${person} onSignOut=${doSignOut} />`;
  }
  const canWrite = person.role === "admin";
  let screen;
  if (route.screen === "wizard") screen = html`<${Wizard} key=${route.id || "new"} id=${route.id} params=${route.params} canWrite=${canWrite} />`;
  else if (route.screen === "detail") screen = html`<${Detail} key=${route.id} id=${route.id} params=${route.params} canWrite=${canWrite} />`;
  else screen = html`<${CommunicationList} params=${route.params} canWrite=${canWrite} />`;
  return html`
    <${Header} person=${person} onSignOut=${doSignOut} />
    <main class="page" id="main" tabindex="-1">${screen}</main>
    <${Toasts} />
  `;
}

async function boot() {
  const root = document.getElementById("app");
  const config = await api.config().catch(() => ({}));
  configureApi(config);
  if (config.auth_mode === "cognito" && config.cognito) {
    try {
      await finishHostedLogin(config.cognito);
    } catch (error) {
      render(html`<main class="page narrow"><${Banner} title="Sign-in failed." error=${error} /></main>`, root);
      return;
    }
  }
  await loadCapabilities();
  root.textContent = "";
  render(html`<${App} config=${config} />`, root);
}

boot();
