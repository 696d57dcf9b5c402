import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { apiError, json, ME, mockApi, renderApp, signedIn } from './helpers';

/** Settings with a fake server whose PUT of the key answers `answer`. */
async function storeKey(answer: () => Response) {
  signedIn();
  let me: Record<string, unknown> = { ...ME };
  mockApi({
    'GET /api/users/me': () => json(me),
    'GET /api/users/me/tokens': () => json([]),
    'GET /api/webhooks': () => json({ items: [] }),
    'PUT /api/users/me/gemini-key': () => {
      const res = answer();
      if (res.ok) me = { ...ME, has_gemini_key: true, gemini_key_last4: 'WXYZ' };
      return res;
    },
  });
  renderApp('/settings');
  const user = userEvent.setup();
  await user.type(await screen.findByLabelText('Gemini API key', { selector: 'input' }), 'AIzaSy-some-key-WXYZ');
  await user.click(screen.getByRole('button', { name: 'Set key' }));
}

const saved = (state: 'ok' | 'unverified', message: string, analysing: number) => () =>
  json({ ...ME, has_gemini_key: true, gemini_key_last4: 'WXYZ', key_check: { state, message }, analysing });

describe('storing a Gemini key', () => {
  it('says Google accepted it and how many saved pages are now analysed', async () => {
    await storeKey(saved('ok', 'Google accepted this key.', 12));
    const note = await screen.findByTestId('key-message');
    expect(note).toHaveTextContent('✓ Key checked with Google: it works. Analysing your 12 saved pages…');
    expect(note).toHaveClass('notice-ok');
    expect(await screen.findByText(/A key ending in/)).toHaveTextContent('…WXYZ');
  });

  it('says when the key could not be checked, and that it was stored anyway', async () => {
    const reason =
      'The key was saved but could not be checked: Gemini could not be reached (ConnectError). Analyses will tell whether it works.';
    await storeKey(saved('unverified', reason, 1));
    const note = await screen.findByTestId('key-message');
    expect(note).toHaveTextContent(`${reason} Analysing your 1 saved page…`);
    expect(note).toHaveClass('notice-info');
  });

  it('shows Google’s refusal, and keeps no key', async () => {
    const refusal = 'Google refused this key (API key not valid. Please pass a valid API key). It was not saved.';
    await storeKey(() => apiError(422, 'gemini_key_refused', refusal));
    expect(await screen.findByRole('alert')).toHaveTextContent(refusal);
    expect(screen.getByText(/No key set/)).toBeInTheDocument();
    expect(screen.queryByTestId('key-message')).toBeNull();
    // The key stays in the field to be corrected.
    expect(screen.getByLabelText('Gemini API key', { selector: 'input' })).toHaveValue('AIzaSy-some-key-WXYZ');
  });
});
