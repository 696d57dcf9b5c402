import { describe as group, expect, it } from 'vitest';

import { anchor, describe, layout } from './anchor';

const TEXT = 'The cat sat on the mat. The cat ran off. A dog sat on the mat too.';

group('anchoring a highlight in the reader text', () => {
  it('finds it at its offsets while the text is unchanged', () => {
    const s = describe(TEXT, 24, 39);
    expect(s.quote).toBe('The cat ran off');
    expect(anchor(TEXT, s)).toEqual({ start: 24, end: 39 });
  });

  it('picks the repeat whose surroundings match when the text moved', () => {
    const at = TEXT.lastIndexOf('on the mat');
    const s = describe(TEXT, at, at + 10); // the second "on the mat", after "A dog sat "
    const moved = 'Intro added. ' + TEXT;
    const r = anchor(moved, s)!;
    expect(moved.slice(r.start, r.end)).toBe('on the mat');
    expect(moved.slice(r.start - 10, r.start)).toBe('A dog sat ');
  });

  it('survives white space changed by a new extraction', () => {
    const s = describe('first line\nsecond  line end', 6, 24);
    const r = anchor('first line second line end', s)!;
    expect('first line second line end'.slice(r.start, r.end)).toBe('line second line');
  });

  it('gives up when the words are gone', () => {
    expect(anchor('Something else entirely.', describe(TEXT, 24, 39))).toBeNull();
  });

  it('finds an imported highlight with no offsets by its quote', () => {
    expect(anchor(TEXT, { quote: 'A dog', prefix: '', suffix: '' })).toEqual({ start: 41, end: 46 });
  });

  it('lays out overlapping highlights without overlaps, the first made keeping its text', () => {
    const a = { id: 'a', ...describe(TEXT, 4, 14) };
    const b = { id: 'b', ...describe(TEXT, 8, 22) };
    const c = { id: 'c', quote: 'not there', prefix: '', suffix: '' };
    const { placed, lost } = layout(TEXT, [a, b, c]);
    expect(placed.map((p) => [p.item.id, p.start, p.end])).toEqual([
      ['a', 4, 14],
      ['b', 14, 22],
    ]);
    expect(lost.map((l) => l.id)).toEqual(['c']);
  });
});
