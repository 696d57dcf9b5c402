/** "1 duplicate", "2 duplicates", "1 entry", "3 entries": a count with its noun agreeing. */
export function countOf(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
