import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';

import { ReaderContent } from '../components/ReaderContent';

const SAVED =
  '<h2>Before the approach</h2><p>Check <a href="https://example.org/guide" rel="noopener noreferrer nofollow">the guide</a>, <code>arm()</code>.</p>' +
  '<ul><li>Radar<ul><li>Range</li><li>Range rate</li></ul></li><li>Latches</li></ul>' +
  '<pre>approach(0.1)\n  hold(30)\ncapture()</pre>' +
  '<table><tbody><tr><th>Phase</th><th>Speed</th></tr><tr><td>Approach</td><td>0.1 m/s</td></tr></tbody></table>' +
  '<p><img src="https://example.org/port.png" alt="The docking port"></p>';

// What the server would never send, and the reader must not run if it did.
const HOSTILE =
  '<p>Text</p><script>window.__pwned = 1</script>' +
  '<img src="x" onerror="window.__pwned = 2" alt="bad">' +
  '<img src="https://example.org/a.png" onload="window.__pwned = 3" alt="a">' +
  '<p onclick="window.__pwned = 4" style="color:red">Para</p>' +
  '<a href="javascript:window.__pwned = 5">link</a>' +
  '<svg><script>window.__pwned = 6</script></svg><iframe src="https://evil.example/"></iframe>';

declare global {
  interface Window {
    __pwned?: number;
  }
}

afterEach(() => {
  delete window.__pwned;
});

describe('Reader view', () => {
  it('shows a saved page with its headings, lists, code, tables, links and images', () => {
    const { container } = render(<ReaderContent html={SAVED} text="plain" />);
    expect(screen.getByRole('heading', { level: 2, name: 'Before the approach' })).toBeInTheDocument();
    const link = screen.getByRole('link', { name: 'the guide' });
    expect(link).toHaveAttribute('href', 'https://example.org/guide');
    expect(link).toHaveAttribute('rel', 'noopener noreferrer nofollow');
    expect(container.querySelector('code')?.textContent).toBe('arm()');
    expect(Array.from(container.querySelectorAll('ul ul li'), (li) => li.textContent)).toEqual(['Range', 'Range rate']);
    expect(container.querySelector('pre')?.textContent).toBe('approach(0.1)\n  hold(30)\ncapture()');
    expect(container.querySelector('.table-scroll > table th')?.textContent).toBe('Phase');
    expect(screen.getByRole('img', { name: 'The docking port' })).toHaveAttribute('src', 'https://example.org/port.png');
    expect(screen.queryByText('plain')).toBeNull();
  });

  it('falls back to the plain text, paragraph by paragraph', () => {
    render(<ReaderContent html={null} text={'First paragraph.\n\nSecond paragraph.'} />);
    expect(screen.getByText('First paragraph.').tagName).toBe('P');
    expect(screen.getByText('Second paragraph.').tagName).toBe('P');
  });

  it('never runs scripts or handlers, whatever the HTML holds', async () => {
    const { container } = render(<ReaderContent html={HOSTILE} text="" />);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(window.__pwned).toBeUndefined();
    const html = (container.querySelector('.reader')?.innerHTML ?? '').toLowerCase();
    for (const banned of ['<script', 'onerror', 'onload', 'onclick', 'style=', 'javascript:', '<svg', '<iframe']) {
      expect(html).not.toContain(banned);
    }
    expect(screen.getByText('link').tagName).toBe('SPAN'); // a link that could run code is text
    expect(html).not.toContain('__pwned'); // nor is a script's source shown as text
    expect(screen.getByRole('img', { name: 'a' })).toHaveAttribute('src', 'https://example.org/a.png');
  });

  it('remembers the text size', async () => {
    const user = userEvent.setup();
    const first = render(<ReaderContent html="<p>Hello</p>" text="" />);
    const reader = () => document.querySelector('.reader') as HTMLElement;
    expect(reader().style.fontSize).toBe('1rem');
    await user.click(screen.getByRole('button', { name: 'Larger text' }));
    await user.click(screen.getByRole('button', { name: 'Larger text' }));
    expect(reader().style.fontSize).toBe('1.25rem');
    first.unmount();
    render(<ReaderContent html="<p>Hello</p>" text="" />);
    expect(reader().style.fontSize).toBe('1.25rem');
  });
});
