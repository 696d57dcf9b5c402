/**
 * The options page: which Fuze server, and how to sign in to it (username and password, or a
 * personal API token); sign out.
 */
import { ApiError, Fuze, normalizeServerUrl, originPattern, Unreachable } from './api';
import { ext } from './ext';

const fuze = new Fuze({ storage: ext.storage.local });

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('sign-in');
const message = $('message');

function say(text: string, kind: 'ok' | 'error' = 'ok'): void {
  message.textContent = text;
  message.className = kind === 'error' ? 'error' : '';
}

function method(): 'password' | 'token' {
  return (form.elements.namedItem('method') as RadioNodeList).value as 'password' | 'token';
}

function showMethod(): void {
  $('password-fields').hidden = method() !== 'password';
  $('token-fields').hidden = method() !== 'token';
}

async function render(): Promise<void> {
  const [serverUrl, session] = [await fuze.serverUrl(), await fuze.session()];
  $('signed-in').hidden = !session;
  form.hidden = !!session;
  if (serverUrl) $<HTMLInputElement>('server').value ||= serverUrl;
  if (!session || !serverUrl) return;
  const link = $<HTMLAnchorElement>('server-link');
  link.href = `${serverUrl}/`;
  link.textContent = serverUrl;
  $('who').textContent = session.username;
  $('how').textContent = session.kind === 'token' ? 'with an API token' : 'with a password';
  const granted = await ext.permissions
    .contains({ origins: [originPattern(serverUrl)] })
    .catch(() => false);
  $('access').textContent = granted
    ? 'The extension may talk to this server (and to no other site).'
    : 'Access to this server was not granted; the extension still works while the server ' +
      'admits extensions in its CORS settings (the default).';
}

async function onSubmit(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const button = $<HTMLButtonElement>('sign-in-button');
  let serverUrl: string;
  try {
    serverUrl = normalizeServerUrl($<HTMLInputElement>('server').value);
  } catch (err) {
    return say((err as Error).message, 'error');
  }
  // Asked inside the click (a permission request needs the user's gesture), for this server's
  // origin only; sign-in goes on whatever the answer.
  const access = ext.permissions.request({ origins: [originPattern(serverUrl)] }).catch(() => false);
  button.disabled = true;
  say('Signing in…');
  try {
    if (method() === 'password') {
      await fuze.signIn(serverUrl, $<HTMLInputElement>('login').value, $<HTMLInputElement>('password').value);
    } else {
      await fuze.useApiToken(serverUrl, $<HTMLInputElement>('token').value);
    }
    $<HTMLInputElement>('password').value = '';
    $<HTMLInputElement>('token').value = '';
    say('Signed in. Save pages from the toolbar button, the context menu or Alt+Shift+S.');
    await render();
    void access.then(() => render());
  } catch (err) {
    const text =
      err instanceof Unreachable
        ? `Cannot reach ${serverUrl}: is the address right and the server running?`
        : err instanceof ApiError
          ? err.message
          : String(err);
    say(text, 'error');
  } finally {
    button.disabled = false;
  }
}

async function onSignOut(): Promise<void> {
  const serverUrl = await fuze.serverUrl();
  await fuze.signOut();
  if (serverUrl) await ext.permissions.remove({ origins: [originPattern(serverUrl)] }).catch(() => false);
  // The form comes back first, then the message: whoever sees "Signed out." sees the form.
  await render();
  say('Signed out.');
}

form.addEventListener('submit', (e) => void onSubmit(e));
form.addEventListener('change', showMethod);
$('sign-out').addEventListener('click', () => void onSignOut());
showMethod();
void render();
