import { hostOf, mapLimit, parseTags, safeHighlight } from './format';

describe('safeHighlight', () => {
  it('keeps <mark> and escapes any other markup', () => {
    expect(safeHighlight('a <mark>starter</mark> &amp; <img src=x onerror=alert(1)>')).toBe(
      'a <mark>starter</mark> &amp; &lt;img src=x onerror=alert(1)&gt;',
    );
  });
});

describe('parseTags', () => {
  it('splits on commas, trims and drops empties and repeats', () => {
    expect(parseTags(' react, ,frontend,react ')).toEqual(['react', 'frontend']);
  });
});

describe('mapLimit', () => {
  it('never runs more than the limit at once and reports every result', async () => {
    let running = 0;
    let peak = 0;
    const progress: number[] = [];
    const results = await mapLimit(
      [1, 2, 3, 4, 5, 6, 7],
      3,
      async (n) => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running -= 1;
        if (n === 4) throw new Error('no');
        return n * 2;
      },
      (done) => progress.push(done),
    );
    expect(peak).toBe(3);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });
});

describe('hostOf', () => {
  it('names the site, or says an uploaded file has none', () => {
    expect(hostOf('https://www.example.com/a')).toBe('example.com');
    expect(hostOf(`upload://${'a'.repeat(64)}/paper.pdf`)).toBe('uploaded file');
  });
});
