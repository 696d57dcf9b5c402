import { Link } from 'react-router';

/** How to get the browser extension: it is built from this server's source, not from a store. */
export function ExtensionPage() {
  const server = window.location.origin;
  return (
    <section className="page extension-page" aria-labelledby="extension-title">
      <h1 id="extension-title">Browser extension</h1>
      <p className="lead">
        Save the page you are reading, as you see it (after its scripts ran, behind your login), with one click, the right-click menu
        or Alt+Shift+S. Saves made while the server is unreachable wait and are sent later.
      </p>
      <div className="card stack">
        <h2>Install it</h2>
        <p className="muted">
          The extension is not in a web store: it is built from the <code>extension/</code> folder of Fuze’s source, on a machine with
          Node.js 20.
        </p>
        <ol className="extension-steps">
          <li>
            Build it:
            <pre>
              <code>cd extension &amp;&amp; npm ci &amp;&amp; npm run build</code>
            </pre>
          </li>
          <li>
            In Chrome, Chromium or Edge, open <code>chrome://extensions</code>, turn on <strong>Developer mode</strong>, click{' '}
            <strong>Load unpacked</strong> and pick the <code>extension/dist</code> folder.
          </li>
          <li>
            Click the Fuze button in the toolbar, then <strong>Set up Fuze</strong>. Enter this server’s address,{' '}
            <code className="server-address">{server}</code>, and sign in with your username and password (or a personal API token from{' '}
            <Link to="/settings">Settings</Link>).
          </li>
        </ol>
        <p className="muted small">
          Firefox: <code>npm run build:firefox</code>, then open <code>about:debugging</code> → This Firefox →{' '}
          <strong>Load Temporary Add-on</strong> and pick <code>extension/dist-firefox/manifest.json</code>.
        </p>
      </div>
      <p>
        <Link to="/">← Back to the library</Link>
      </p>
    </section>
  );
}
