import { formatBytes } from './format-bytes.js';

/** What a download reports; a file's bytes count towards the total as they arrive, resumed bytes included. */
export interface DownloadProgress {
  /** File being downloaded, repository-relative. */
  file: string;
  fileBytes: number;
  fileTotal?: number;
  doneBytes: number;
  totalBytes: number;
  /** Index (1-based) and count of files, for "3/9". */
  fileIndex: number;
  fileCount: number;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const BAR_WIDTH = 24;
/** How often a plain (non-terminal) progress line is printed while bytes arrive. */
export const PLAIN_INTERVAL_MS = 5000;

/** One progress line: aggregate bar, percentage, bytes, speed, then the current file. Pure, for tests. */
export function renderProgressLine(p: DownloadProgress, bytesPerSecond?: number): string {
  const ratio = p.totalBytes > 0 ? Math.min(1, p.doneBytes / p.totalBytes) : 0;
  const filled = Math.round(ratio * BAR_WIDTH);
  const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
  const speed = bytesPerSecond !== undefined && bytesPerSecond > 0 ? ` ${formatBytes(bytesPerSecond)}/s` : '';
  const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
  return `[${bar}] ${percent} ${formatBytes(p.doneBytes)}/${formatBytes(p.totalBytes)}${speed}` + ` (${p.fileIndex}/${p.fileCount}) ${p.file}`;
}

/**
 * Progress on stderr. On a terminal one line is redrawn in place (at most ~8 times a second); elsewhere (CI,
 * logs, services) a plain line every few seconds while bytes arrive, so a long download shows signs of life
 * without flooding the log with carriage returns, and a line per finished file.
 */
export class ProgressBar {
  readonly #stream: ProgressStream;
  readonly #now: () => number;
  readonly #plainIntervalMs: number;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #lastLength = 0;
  #startedAt: number | undefined;
  #startBytes = 0;

  constructor(stream: ProgressStream, now: () => number = () => performance.now(), plainIntervalMs = PLAIN_INTERVAL_MS) {
    this.#stream = stream;
    this.#now = now;
    this.#plainIntervalMs = plainIntervalMs;
  }

  update(p: DownloadProgress): void {
    const now = this.#now();
    if (this.#startedAt === undefined) {
      // Speed counts only this run's bytes: resumed bytes arrive instantly and would inflate it.
      this.#startedAt = now;
      this.#startBytes = p.doneBytes;
      // Without a terminal the first line waits a full interval: small files finish before it is due.
      if (!this.#stream.isTTY) this.#lastDraw = now;
    }
    if (!this.#stream.isTTY) {
      if (now - this.#lastDraw < this.#plainIntervalMs) return;
      this.#lastDraw = now;
      this.#stream.write(`${renderProgressLine(p, this.#speed(p, now))}\n`);
      return;
    }
    if (now - this.#lastDraw < 120 && p.doneBytes < p.totalBytes) return;
    this.#lastDraw = now;
    let line = renderProgressLine(p, this.#speed(p, now));
    const columns = this.#stream.columns ?? 120;
    if (line.length > columns - 1) line = `${line.slice(0, columns - 2)}…`;
    this.#stream.write(`\r${line.padEnd(this.#lastLength)}`);
    this.#lastLength = line.length;
  }

  #speed(p: DownloadProgress, now: number): number | undefined {
    const seconds = (now - (this.#startedAt ?? now)) / 1000;
    return seconds > 0.5 ? (p.doneBytes - this.#startBytes) / seconds : undefined;
  }

  /** A file is complete (downloaded and verified, or already on disk). */
  fileDone(file: string, size: number, note = ''): void {
    const text = `  ${file} ${formatBytes(size)}${note ? ` ${note}` : ''}`;
    if (this.#stream.isTTY) {
      this.#stream.write(`\r${text.padEnd(this.#lastLength)}\n`);
      this.#lastLength = 0;
      this.#lastDraw = Number.NEGATIVE_INFINITY;
    } else {
      this.#stream.write(`${text}\n`);
    }
  }

  /** A free-form line (retry notices), printed without breaking the bar. */
  message(text: string): void {
    if (this.#stream.isTTY && this.#lastLength > 0) {
      this.#stream.write(`\r${' '.repeat(this.#lastLength)}\r`);
      this.#lastLength = 0;
      this.#lastDraw = Number.NEGATIVE_INFINITY;
    }
    this.#stream.write(`${text}\n`);
  }
}
