import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { json, mockApi, renderApp } from './helpers';

describe('sign-up errors', () => {
  it('shows the server’s sentence about the email and marks the email field', async () => {
    const message = 'Invalid email: the part after the @-sign is a special-use or reserved name that cannot be used with email.';
    mockApi({
      'GET /api/auth/config': () => json({ signup: 'open', first_account: false }),
      'POST /api/auth/register': () =>
        json(
          {
            error: {
              code: 'validation_error',
              message,
              details: [{ loc: ['body', 'email'], msg: 'Value error, ...', type: 'value_error' }],
            },
          },
          422,
        ),
    });
    renderApp('/signup');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Username'), 'ada');
    await user.type(screen.getByLabelText('Email'), 'ada@example.invalid');
    await user.type(screen.getByLabelText('Password'), 'long enough password');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent(message);
    const email = screen.getByLabelText('Email');
    expect(email).toHaveAttribute('aria-invalid', 'true');
    expect(email).toHaveAccessibleDescription(message);
    expect(screen.getByLabelText('Username')).not.toHaveAttribute('aria-invalid');
  });
});
