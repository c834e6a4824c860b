/** `███████░░░░░░░░` for k of n, `width` cells. Monospace-safe block characters render the same on every client. */
export function progressBar(done: number, total: number, width = 16): string {
  const ratio = total <= 0 ? 0 : Math.min(1, Math.max(0, done / total));
  const filled = Math.round(ratio * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** "~45 s", "~3 min", "~1 h 5 min"; undefined when nothing has been measured yet. */
export function formatEta(ms: number | null): string | undefined {
  if (ms === null || !Number.isFinite(ms)) return undefined;
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 90) return `~${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `~${minutes} min`;
  return `~${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
