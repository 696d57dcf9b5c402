/**
 * Settings' webhooks: add an https address with the events it wants (its signing secret shown
 * once), see each one's state (paused by Fuze after deliveries kept failing, with the reason),
 * pause, resume, send a test event, delete, and read its delivery log: each event, how many
 * tries, what the endpoint answered (docs/webhooks.md).
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { webhooksListDeliveriesOptions, webhooksListWebhooksOptions, webhooksListWebhooksQueryKey } from '../client/@tanstack/react-query.gen';
import { webhooksCreateWebhook, webhooksDeleteWebhook, webhooksTestWebhook, webhooksUpdateWebhook } from '../client/sdk.gen';
import type { WebhookOut } from '../client/types.gen';
import { ErrorNotice, ShownOnce } from './Notice';
import { TimeAgo } from './TimeAgo';

const EVENTS: [string, string][] = [
  ['bookmark.saved', 'an item is saved'],
  ['bookmark.ready', 'an item is ready (read and searchable)'],
  ['bookmark.failed', 'an item could not be processed'],
  ['bookmark.analysed', 'its Gemini analysis is done'],
  ['import.done', 'an import finished'],
];
type Event = 'bookmark.saved' | 'bookmark.ready' | 'bookmark.failed' | 'bookmark.analysed' | 'import.done';

function Deliveries({ id }: { id: string }) {
  const log = useQuery({ ...webhooksListDeliveriesOptions({ path: { webhook_id: id }, query: { limit: 20 } }), refetchInterval: 5000 });
  if (log.isPending) return <p className="muted small">Loading…</p>;
  if (!log.data?.items.length) return <p className="muted small">No deliveries yet.</p>;
  return (
    <div className="table-scroll">
      <table className="table small" aria-label="Deliveries">
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">When</th>
            <th scope="col">Status</th>
            <th scope="col">Tries</th>
            <th scope="col">Answer</th>
          </tr>
        </thead>
        <tbody>
          {log.data.items.map((d) => (
            <tr key={d.id}>
              <td>
                <code>{d.event}</code>
              </td>
              <td>
                <TimeAgo iso={d.created_at} />
              </td>
              <td className={d.status === 'failed' ? 'danger-text' : undefined}>{d.status}</td>
              <td>{d.attempts}</td>
              <td>{d.error ?? (d.response_status ? `HTTP ${d.response_status}` : '')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Hook({ h }: { h: WebhookOut }) {
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const refresh = () => qc.invalidateQueries({ queryKey: webhooksListWebhooksQueryKey() });
  const change = useMutation({
    mutationFn: async (active: boolean) => webhooksUpdateWebhook({ path: { webhook_id: h.id }, body: { active }, throwOnError: true }),
    onSuccess: refresh,
  });
  const test = useMutation({
    mutationFn: async () => webhooksTestWebhook({ path: { webhook_id: h.id }, throwOnError: true }),
    onSuccess: () => setOpen(true),
  });
  const remove = useMutation({
    mutationFn: async () => webhooksDeleteWebhook({ path: { webhook_id: h.id }, throwOnError: true }),
    onSuccess: refresh,
  });
  return (
    <li className="webhook">
      <div>
        <code className="break">{h.url}</code>{' '}
        <span className={h.active ? 'state' : 'state state-off'}>{h.active ? 'active' : 'paused'}</span>
      </div>
      <p className="muted small">
        {h.events.join(', ')}
        {h.last_success_at ? (
          <>
            {' '}
            · last delivered <TimeAgo iso={h.last_success_at} />
          </>
        ) : null}
      </p>
      {h.paused_reason ? <p className="small danger-text">{h.paused_reason}</p> : null}
      <div className="actions">
        <button type="button" className="small" onClick={() => change.mutate(!h.active)} disabled={change.isPending}>
          {h.active ? 'Pause' : 'Resume'}
        </button>
        <button type="button" className="small" onClick={() => test.mutate()} disabled={test.isPending || !h.active}>
          Send a test event
        </button>
        <button type="button" className="small" aria-expanded={open} onClick={() => setOpen((v) => !v)}>
          {open ? 'Hide deliveries' : 'Deliveries'}
        </button>
        <button type="button" className="small danger" onClick={() => window.confirm('Delete this webhook?') && remove.mutate()}>
          Delete
        </button>
      </div>
      <ErrorNotice error={change.error || test.error || remove.error} />
      {open ? <Deliveries id={h.id} /> : null}
    </li>
  );
}

export function Webhooks() {
  const qc = useQueryClient();
  const hooks = useQuery(webhooksListWebhooksOptions());
  const [secret, setSecret] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: async (body: { url: string; events: Event[] }) => (await webhooksCreateWebhook({ body, throwOnError: true })).data,
    onSuccess: (made) => {
      setSecret(made.secret);
      void qc.invalidateQueries({ queryKey: webhooksListWebhooksQueryKey() });
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    create.mutate(
      { url: String(f.get('url')).trim(), events: f.getAll('events').map(String) as Event[] },
      { onSuccess: () => form.reset() },
    );
  }
  return (
    <section className="card stack" aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Webhooks</h2>
      <p className="muted small">
        Fuze calls your https address when these happen, with a JSON body signed in the <code>Fuze-Signature</code> header (HMAC-SHA256 with the
        secret shown once). A failed call is tried again with growing waits; a webhook whose calls keep failing is paused until you resume it.
      </p>
      <form className="stack" onSubmit={submit} aria-label="Add a webhook">
        <label>
          Address
          <input name="url" type="url" required placeholder="https://example.com/hooks/fuze" />
        </label>
        <fieldset className="checks">
          <legend>Events</legend>
          {EVENTS.map(([value, label]) => (
            <label key={value} className="inline">
              <input type="checkbox" name="events" value={value} defaultChecked={value === 'bookmark.ready'} /> <code>{value}</code>{' '}
              <span className="muted small">{label}</span>
            </label>
          ))}
        </fieldset>
        <div>
          <button type="submit" disabled={create.isPending}>
            Add webhook
          </button>
        </div>
      </form>
      {secret ? <ShownOnce what="signing secret" value={secret} testId="webhook-secret" /> : null}
      <ErrorNotice error={create.error || hooks.error} />
      {hooks.data?.items.length ? (
        <ul className="plain stack">
          {hooks.data.items.map((h) => (
            <Hook key={h.id} h={h} />
          ))}
        </ul>
      ) : (
        <p className="muted small">No webhooks yet.</p>
      )}
    </section>
  );
}
