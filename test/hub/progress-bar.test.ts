import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/hub/format-bytes.js';
import { ProgressBar, renderProgressLine, type DownloadProgress } from '../../src/hub/progress-bar.js';

const progress: DownloadProgress = {
  file: 'unet/weights.pb',
  fileBytes: 1_500_000_000,
  fileTotal: 3_440_000_000,
  doneBytes: 2_000_000_000,
  totalBytes: 4_000_000_000,
  fileIndex: 9,
  fileCount: 12,
};

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 200, write: (t: string) => chunks.push(t) }, chunks };
}

describe('formatBytes', () => {
  it('uses decimal units with three significant digits, like the hub', () => {
    expect([0, 999, 1000, 20_000, 493_000_000, 3_440_000_000, 5e12].map(formatBytes)).toEqual([
      '0 B',
      '999 B',
      '1.00 kB',
      '20.0 kB',
      '493 MB',
      '3.44 GB',
      '5.00 TB',
    ]);
  });
});

describe('renderProgressLine', () => {
  it('draws the aggregate bar, percentage, sizes, speed and the current file', () => {
    expect(renderProgressLine(progress, 25_000_000)).toBe('[############------------]  50% 2.00 GB/4.00 GB 25.0 MB/s (9/12) unet/weights.pb');
    expect(renderProgressLine({ ...progress, doneBytes: 0 })).toBe('[------------------------]   0% 0 B/4.00 GB (9/12) unet/weights.pb');
  });
});

describe('ProgressBar', () => {
  it('prints one line per finished file and no bar when stderr is not a terminal', () => {
    const { stream, chunks } = capture(false);
    const bar = new ProgressBar(stream, () => 0);
    bar.update(progress);
    bar.fileDone('unet/weights.pb', 3_440_000_000, 'sha256 ok');
    expect(chunks).toEqual(['  unet/weights.pb 3.44 GB sha256 ok\n']);
  });

  it('prints a plain progress line every 5 s while a file downloads when stderr is not a terminal', () => {
    const { stream, chunks } = capture(false);
    let now = 0;
    const bar = new ProgressBar(stream, () => now);
    bar.update(progress);
    now = 4999;
    bar.update({ ...progress, doneBytes: 2_400_000_000 });
    now = 5000;
    bar.update({ ...progress, doneBytes: 2_500_000_000 });
    now = 9000;
    bar.update({ ...progress, doneBytes: 2_900_000_000 });
    now = 10_000;
    bar.update({ ...progress, doneBytes: 3_000_000_000 });
    expect(chunks).toEqual([
      '[###############---------]  62% 2.50 GB/4.00 GB 100 MB/s (9/12) unet/weights.pb\n',
      '[##################------]  75% 3.00 GB/4.00 GB 100 MB/s (9/12) unet/weights.pb\n',
    ]);
  });

  it('takes the plain-line interval as a parameter', () => {
    const { stream, chunks } = capture(false);
    let now = 0;
    const bar = new ProgressBar(stream, () => now, 1000);
    for (now = 0; now <= 3000; now += 500) bar.update(progress);
    expect(chunks).toHaveLength(3);
  });

  it('redraws one line in place on a terminal and ends it when a file is done', () => {
    const { stream, chunks } = capture(true);
    let now = 0;
    const bar = new ProgressBar(stream, () => now);
    bar.update(progress);
    now = 50; // within the redraw interval: skipped
    bar.update({ ...progress, doneBytes: 2_100_000_000 });
    now = 1000;
    bar.update({ ...progress, doneBytes: 3_000_000_000 });
    bar.fileDone('unet/weights.pb', 3_440_000_000);
    expect(chunks).toHaveLength(3);
    expect(chunks[0]).toBe('\r[############------------]  50% 2.00 GB/4.00 GB (9/12) unet/weights.pb');
    expect(chunks[1]).toMatch(/^\r\[##################------\] {2}75% 3\.00 GB\/4\.00 GB 1\.00 GB\/s /);
    expect(chunks[2]).toMatch(/^\r {2}unet\/weights\.pb 3\.44 GB +\n$/);
  });
});
