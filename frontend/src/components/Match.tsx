/**
 * How well a search result or recommendation matches, for a person: a short bar labelled
 * "Match" (the score, 0 to 1, as its length), with the score itself in the tooltip.
 */
export function Match({ score }: { score: number }) {
  const value = Math.min(Math.max(score, 0), 1);
  const percent = Math.round(value * 100);
  return (
    <span className="match" title={`Relevance score ${score.toFixed(3)} (0 to 1)`}>
      <span aria-hidden="true">Match</span>
      <span className="match-bar" role="img" aria-label={`${percent}% match`}>
        <span style={{ width: `${percent}%` }} />
      </span>
    </span>
  );
}
