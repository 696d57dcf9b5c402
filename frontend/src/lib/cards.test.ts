import { describe, expect, it } from 'vitest';

import { layout } from '../components/BookmarkGrid';
import { initialOf, siteHue, thumbnailUrl, webUrl } from './cards';

describe('card placeholders', () => {
  it('give a site the same colour every time, and different sites different ones', () => {
    expect(siteHue('example.com')).toBe(siteHue('Example.com'));
    const hues = new Set(['github.com', 'lwn.net', 'nytimes.com', 'arxiv.org', 'example.com'].map(siteHue));
    expect(hues.size).toBeGreaterThan(3);
    for (const h of hues) expect(h).toBeGreaterThanOrEqual(0);
  });

  it('take the initial of the site, not of www.', () => {
    expect(initialOf('www.example.com')).toBe('E');
    expect(initialOf('  ärzteblatt.de')).toBe('Ä');
    expect(initialOf('9to5mac.com')).toBe('9');
    expect(initialOf('—')).toBe('?');
  });
});

describe('card addresses', () => {
  it('load a picture only from the API in its own shape', () => {
    const ok = '/api/bookmarks/0b7c6a3e-9c1d-4a59-8f1e-2b4c6d8e0f1a/thumbnail?v=0123456789abcdef&token=ab12.1767312000.x-y_z';
    expect(thumbnailUrl(ok)).toBe(ok);
    expect(thumbnailUrl('https://evil.example/x.webp')).toBeUndefined();
    expect(thumbnailUrl('//evil.example' + ok)).toBeUndefined();
    expect(thumbnailUrl(null)).toBeUndefined();
  });

  it('load a favicon only over http(s)', () => {
    expect(webUrl('https://example.com/favicon.ico')).toBe('https://example.com/favicon.ico');
    expect(webUrl('javascript:alert(1)')).toBeUndefined();
    expect(webUrl('data:image/png;base64,AAAA')).toBeUndefined();
  });
});

describe('the grid', () => {
  it('has one column at phone width, two on a small tablet, more on a desktop', () => {
    expect(layout(366).columns).toBe(1);
    expect(layout(500).columns).toBe(2);
    expect(layout(1100).columns).toBe(4);
    const { cardWidth, rowHeight } = layout(1100);
    expect(rowHeight).toBeGreaterThan((cardWidth * 9) / 16);
  });
});
