import { Link, useLocation } from 'react-router';

/** Any address the app has no page for. */
export function NotFoundPage() {
  const { pathname } = useLocation();
  return (
    <section className="page not-found" aria-labelledby="not-found-title">
      <p className="not-found-code" aria-hidden="true">404</p>
      <h1 id="not-found-title">Page not found</h1>
      <p className="muted">
        There is no page at <code>{pathname}</code>. The link may be old or mistyped.
      </p>
      <p className="actions">
        <Link className="button primary" to="/">
          Go to your library
        </Link>
        <Link className="button" to="/search">
          Search
        </Link>
      </p>
    </section>
  );
}
