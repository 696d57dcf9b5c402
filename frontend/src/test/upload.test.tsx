import { QueryClientProvider } from '@tanstack/react-query';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import { SaveForm } from '../components/SaveForm';
import { apiError, bookmark, json, mockApi, signedIn, testQueryClient } from './helpers';

function renderForm() {
  return render(
    <QueryClientProvider client={testQueryClient()}>
      <SaveForm />
    </QueryClientProvider>,
  );
}

describe('Upload a file', () => {
  it('sends the chosen file with the tags and notes typed in the form', async () => {
    signedIn();
    const sent: FormData[] = [];
    mockApi({
      'POST /api/bookmarks/upload': async (req) => {
        sent.push(await req.formData());
        return json(bookmark({ url: 'upload://abc/paper.pdf', status: 'pending', source: 'upload' }), 201);
      },
    });
    renderForm();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Tags'), 'space, papers');
    await user.type(screen.getByLabelText('Notes'), 'for the lunar project');
    const file = new File(['%PDF-1.4 tiny'], 'paper.pdf', { type: 'application/pdf' });
    const picker = screen.getByLabelText('Upload a PDF, Markdown or text file');
    expect(picker).toHaveAttribute('accept', expect.stringContaining('.pdf'));
    await user.upload(picker, file);

    expect(await screen.findByText('Uploaded paper.pdf. It will be ready in a moment.')).toBeInTheDocument();
    expect(sent).toHaveLength(1);
    expect((sent[0].get('file') as File).name).toBe('paper.pdf');
    expect(sent[0].get('tags')).toBe('space,papers');
    expect(sent[0].get('notes')).toBe('for the lunar project');
    // The form is emptied for the next save.
    await waitFor(() => expect(screen.getByLabelText('Tags')).toHaveValue(''));
  });

  it('says so when the file is already saved, and shows the server’s refusal', async () => {
    signedIn();
    let answer = () => json(bookmark({ url: 'upload://abc/a.md' }), 200);
    mockApi({ 'POST /api/bookmarks/upload': () => answer() });
    renderForm();
    const user = userEvent.setup();
    const picker = screen.getByLabelText('Upload a PDF, Markdown or text file');
    await user.upload(picker, new File(['# A'], 'a.md', { type: 'text/markdown' }));
    expect(await screen.findByText('a.md is already in your library.')).toBeInTheDocument();

    answer = () => apiError(413, 'file_too_large', 'This file is 60.0 MB; files are limited to 50.0 MB.');
    await user.upload(picker, new File(['%PDF-'], 'big.pdf', { type: 'application/pdf' }));
    expect(await screen.findByText(/files are limited to 50.0 MB/)).toBeInTheDocument();
  });
});
