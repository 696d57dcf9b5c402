/**
 * Settings' other AI: an OpenAI-compatible endpoint (OpenAI, OpenRouter, vLLM, LM Studio) or
 * an Ollama server, used for analyses, project intents and breakdowns instead of Gemini. The
 * server checks the endpoint before keeping it; its key is never shown again (docs/ai.md).
 */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { usersGetMeQueryKey } from '../client/@tanstack/react-query.gen';
import { usersDeleteAiProvider, usersPutAiProvider } from '../client/sdk.gen';
import type { UserOut } from '../client/types.gen';
import { ErrorNotice, InfoNotice } from './Notice';

const PLACEHOLDER = { openai: 'https://api.openai.com/v1', ollama: 'http://localhost:11434' };

export function AIProvider({ me }: { me: UserOut }) {
  const qc = useQueryClient();
  const own = me.ai_provider ?? null;
  const [kind, setKind] = useState<'openai' | 'ollama'>(own?.provider ?? 'ollama');
  const [message, setMessage] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: usersGetMeQueryKey() });
  const save = useMutation({
    mutationFn: async (body: { provider: 'openai' | 'ollama'; base_url: string | null; model: string; api_key: string | null }) =>
      (await usersPutAiProvider({ body, throwOnError: true })).data,
    onSuccess: (r) => {
      setMessage(`${r.message}${r.analysing ? ` Analysing your ${r.analysing} saved pages…` : ''}`);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: async () => usersDeleteAiProvider({ throwOnError: true }),
    onSuccess: () => {
      setMessage(null);
      void refresh();
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const key = String(f.get('api_key') ?? '').trim();
    save.mutate({ provider: kind, base_url: String(f.get('base_url')).trim() || null, model: String(f.get('model')).trim(), api_key: key || null });
  }
  return (
    <section className="card stack" aria-labelledby="ai-title">
      <h2 id="ai-title">Other AI provider</h2>
      <p className="muted small">
        Instead of Gemini, analyse your pages with an OpenAI-compatible endpoint (OpenAI, OpenRouter, vLLM, LM Studio) or a local Ollama.
        {me.server_ai && !own ? ` Without your own, this server's (${me.server_ai}) is used.` : ''}
      </p>
      {own ? (
        <p data-testid="ai-provider">
          Using <strong>{own.provider === 'ollama' ? 'Ollama' : 'an OpenAI-compatible endpoint'}</strong>: <code>{own.model}</code> at{' '}
          <code className="break">{own.base_url}</code>
          {own.key_last4 ? <span className="muted small"> · key …{own.key_last4}</span> : null}{' '}
          <button type="button" className="small danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
            Stop using it
          </button>
        </p>
      ) : null}
      <form className="stack" onSubmit={submit} aria-label="Choose an AI provider">
        <fieldset className="segmented">
          <legend className="visually-hidden">Provider</legend>
          {(['ollama', 'openai'] as const).map((k) => (
            <label key={k} className={k === kind ? 'on' : ''}>
              <input type="radio" name="provider" value={k} checked={k === kind} onChange={() => setKind(k)} />
              {k === 'ollama' ? 'Ollama' : 'OpenAI-compatible'}
            </label>
          ))}
        </fieldset>
        <label>
          Endpoint
          <input name="base_url" type="url" placeholder={PLACEHOLDER[kind]} defaultValue={own?.provider === kind ? (own.base_url ?? '') : ''} key={`url-${kind}`} />
        </label>
        <label>
          Model
          <input name="model" required maxLength={200} placeholder={kind === 'ollama' ? 'llama3.1' : 'gpt-4o-mini'} defaultValue={own?.provider === kind ? own.model : ''} key={`model-${kind}`} />
        </label>
        <label>
          API key {kind === 'ollama' ? <span className="muted small">(if your server asks for one)</span> : null}
          <input name="api_key" type="password" autoComplete="off" maxLength={500} />
        </label>
        <div>
          <button type="submit" disabled={save.isPending}>
            {save.isPending ? 'Checking…' : 'Check and use it'}
          </button>
        </div>
      </form>
      {message ? <InfoNotice>{message}</InfoNotice> : null}
      <ErrorNotice error={save.error || remove.error} />
    </section>
  );
}
