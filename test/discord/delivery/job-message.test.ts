import { ButtonStyle, ComponentType, type APIButtonComponentWithCustomId } from 'discord.js';
import { text } from '../../../src/i18n/translate.js';
import { describe, expect, it } from 'vitest';
import { editButtonIds, imageButtonIds, jobButtonIds } from '../../../src/discord/custom-id-codec.js';
import {
  kindLabel,
  escapeMarkdown,
  renderCancelled,
  renderDone,
  renderFailed,
  renderQueued,
  renderRunning,
  truncateText,
  type MessageState,
  type StateImage,
} from '../../../src/discord/delivery/render/job-message.js';
import type { JobRequest } from '../../../src/protocol/generate-request.js';
import { formatParameters } from '../../../src/protocol/png-parameters.js';
import type { Job, JobOutput } from '../../../src/queue/job.js';
import { fakeJob } from '../../fixtures/jobs.js';
import { smallRequest } from '../../fixtures/requests.js';

const JOB_ID = 'AbC123xyz_-';
const OWNER = '200000000000000001';
const MODERATOR = '200000000000000002';
const HEADER = `**a lighthouse at dusk** — <@${OWNER}>`;

function job(overrides: Partial<Job> = {}, request: Partial<JobRequest> = {}): Job {
  return fakeJob({
    id: JOB_ID,
    userId: OWNER,
    request: smallRequest({ model: 'tiny', steps: 20, width: 512, height: 512, seed: 42, ...request }),
    ...overrides,
  });
}

const output = (seed: number, width = 512, height = 512): JobOutput => ({
  path: `/data/outputs/${JOB_ID}/${seed}.png`,
  seed,
  width,
  height,
  parameters: '',
});
const image: StateImage = { key: 'final', name: 'image.png', png: new Uint8Array([1, 2, 3]) };
const cancelRow = {
  type: ComponentType.ActionRow,
  components: [
    { type: ComponentType.Button, style: ButtonStyle.Secondary, label: 'Cancel', emoji: { name: '✖️' }, custom_id: `job:cancel:${JOB_ID}` },
  ],
};

/** The buttons as the member sees them: label (or emoji) and what the custom id decodes to. */
function buttons(state: MessageState) {
  return state.components.map((row) =>
    row.components.map((component) => {
      const button = component as APIButtonComponentWithCustomId;
      return {
        shown: button.label ?? button.emoji?.name,
        style: button.style,
        decoded: imageButtonIds.decode(button.custom_id) ?? editButtonIds.decode(button.custom_id),
      };
    }),
  );
}

describe('renderQueued', () => {
  it('shows the place in line with the ETA, notes below, and a Cancel button', () => {
    const notes = [
      text('job.note.ratio', { label: '16:9', width: 680, height: 384, sdxl: false }),
      text('job.note.refineSettings', { original: 'a fox', seed: 42 }),
    ];
    const state = renderQueued(job(), { position: 3, etaMs: 45_000 }, notes);
    expect(state).toEqual({
      content: `${HEADER}\n⏳ Queued: #3 in line · starts in ~45 s\n-# 16:9 → 680x384\n-# ✏️ "a fox" with new settings, same seed 42`,
      components: [cancelRow],
    });
    expect(jobButtonIds.decode((state.components[0].components[0] as APIButtonComponentWithCustomId).custom_id)).toEqual({
      action: 'cancel',
      jobId: JOB_ID,
    });
  });

  it('leaves the ETA out until one is measured, and says when no worker has taken the queue yet', () => {
    expect(renderQueued(job(), { position: 1, etaMs: null }).content).toBe(`${HEADER}\n⏳ Queued: #1 in line`);
    expect(renderQueued(job(), { position: 2, etaMs: 200_000 }).content).toBe(`${HEADER}\n⏳ Queued: #2 in line · starts in ~3 min`);
    expect(renderQueued(job(), undefined).content).toBe(`${HEADER}\n⏳ Queued: waiting for the worker`);
  });

  it('names the kind of job for button-made jobs', () => {
    const where = { position: 1, etaMs: null };
    expect(renderQueued(job({ kind: 'reroll' }), where).content).toBe(`${HEADER} · 🔄 reroll\n⏳ Queued: #1 in line`);
    expect(renderQueued(job({ kind: 'variation' }), where).content).toBe(`${HEADER} · variation\n⏳ Queued: #1 in line`);
    expect(renderQueued(job({ kind: 'upscale' }), where).content).toBe(`${HEADER} · upscale 2x\n⏳ Queued: #1 in line`);
    expect(renderQueued(job({ kind: 'refine' }), where).content).toBe(`${HEADER} · ✏️ refined\n⏳ Queued: #1 in line`);
  });
});

describe('renderRunning', () => {
  it('shows step k of n with a bar and the percentage, and attaches the preview', () => {
    const preview: StateImage = { key: 'p5', name: 'preview.png', png: new Uint8Array([9]) };
    const state = renderRunning(job({ state: 'running' }), { step: 5, total: 20, image: 0 }, preview);
    expect(state).toEqual({ content: `${HEADER}\n🎨 step 5/20 \`████░░░░░░░░░░░░\` 25%`, components: [cancelRow], image: preview });
    expect(state.image).toBe(preview);
  });

  it('counts images of a grid from 1 and rounds the percentage', () => {
    const grid = job({ state: 'running' }, { count: 4, steps: 3 });
    expect(renderRunning(grid, { step: 1, total: 3, image: 1 }, undefined).content).toBe(
      `${HEADER}\n🎨 image 2/4 · step 1/3 \`█████░░░░░░░░░░░\` 33%`,
    );
    expect(renderRunning(grid, { step: 3, total: 3, image: 3 }, undefined).content).toBe(
      `${HEADER}\n🎨 image 4/4 · step 3/3 \`████████████████\` 100%`,
    );
  });

  it('starts at step 0 of the requested steps, without an attachment, before the first progress', () => {
    const state = renderRunning(job({ state: 'running' }), undefined, undefined);
    expect(state.content).toBe(`${HEADER}\n🎨 step 0/20 \`░░░░░░░░░░░░░░░░\` 0%`);
    expect(state.image).toBeUndefined();
  });
});

describe('renderDone', () => {
  it('shows the parameters, the image, 🔄 U1 / V1 and the editing rows for a single image', () => {
    const state = renderDone(job({ state: 'done', seeds: [42], outputs: [output(42)] }), image);
    expect(state.content).toBe(`${HEADER}\nSeed \`42\` · 512x512 · 20 steps · cfg 7 · euler · tiny`);
    expect(state.image).toBe(image);
    expect(buttons(state)).toEqual([
      [
        { shown: '🔄', style: ButtonStyle.Secondary, decoded: { action: 'reroll', jobId: JOB_ID } },
        { shown: 'U1', style: ButtonStyle.Secondary, decoded: { action: 'u1', jobId: JOB_ID } },
      ],
      [{ shown: 'V1', style: ButtonStyle.Secondary, decoded: { action: 'v1', jobId: JOB_ID } }],
      [
        { shown: 'Zoom Out 2x', style: ButtonStyle.Secondary, decoded: { action: 'zoom2', jobId: JOB_ID } },
        { shown: 'Zoom Out 1.5x', style: ButtonStyle.Secondary, decoded: { action: 'zoom15', jobId: JOB_ID } },
        { shown: 'Vary (Subtle)', style: ButtonStyle.Secondary, decoded: { action: 'subtle', jobId: JOB_ID } },
        { shown: 'Vary (Strong)', style: ButtonStyle.Secondary, decoded: { action: 'strong', jobId: JOB_ID } },
        { shown: 'Vary (Region)', style: ButtonStyle.Secondary, decoded: { action: 'region', jobId: JOB_ID } },
      ],
      [
        { shown: '⬅️', style: ButtonStyle.Secondary, decoded: { action: 'panleft', jobId: JOB_ID } },
        { shown: '➡️', style: ButtonStyle.Secondary, decoded: { action: 'panright', jobId: JOB_ID } },
        { shown: '⬆️', style: ButtonStyle.Secondary, decoded: { action: 'panup', jobId: JOB_ID } },
        { shown: '⬇️', style: ButtonStyle.Secondary, decoded: { action: 'pandown', jobId: JOB_ID } },
      ],
    ]);
    // Discord's limits: 5 rows of 5, custom ids of 100 characters.
    expect(state.components.length).toBeLessThanOrEqual(5);
    for (const row of state.components) {
      expect(row.components.length).toBeLessThanOrEqual(5);
      for (const c of row.components) expect((c as APIButtonComponentWithCustomId).custom_id.length).toBeLessThanOrEqual(100);
    }
  });

  it('says in the header what kind of edit a job is', () => {
    const img = { ref: 'inputs/abc/image.png' };
    const label = (kind: Job['kind'], mode: Job['request']['mode']) => kindLabel(job({ kind }, { mode }));
    expect(label('imagine', { kind: 'txt2img' })).toBe('');
    expect(label('imagine', { kind: 'img2img', image: img, strength: 0.6 })).toBe(' · 🖼️ from a picture (strength 0.6)');
    expect(label('edit', { kind: 'inpaint', image: img, mask: img, strength: 0.75, maskBlur: 4, fill: 'original', area: 'whole', padding: 32 })).toBe(
      ' · 🖌️ inpaint (strength 0.75)',
    );
    expect(label('zoom', { kind: 'outpaint', image: img, strength: 1, zoom: 2 })).toBe(' · 🔍 zoom out 2x');
    expect(label('zoom', { kind: 'outpaint', image: img, strength: 1, zoom: 1.5 })).toBe(' · 🔍 zoom out 1.5x');
    expect(label('pan', { kind: 'outpaint', image: img, strength: 1, pan: 'left' })).toBe(' · ⬅️ pan left');
    expect(label('vary-subtle', { kind: 'img2img', image: img, strength: 0.35 })).toBe(' · vary (subtle)');
    expect(label('vary-strong', { kind: 'img2img', image: img, strength: 0.75 })).toBe(' · vary (strong)');
    expect(
      label('vary-region', { kind: 'inpaint', image: img, mask: img, strength: 0.75, maskBlur: 4, fill: 'original', area: 'whole', padding: 32 }),
    ).toBe(' · vary (region)');
  });

  it('lists every seed of a grid, the negative prompt and warnings, and puts 🔄 U1..U4 then V1..V4 under it', () => {
    const grid = job(
      {
        state: 'done',
        seeds: [1, 2, 3, 4],
        outputs: [output(1, 640, 384), output(2, 640, 384), output(3, 640, 384), output(4, 640, 384)],
        warnings: ['Prompt cut to 75 tokens.'],
      },
      { count: 4, width: 640, height: 384, negativePrompt: 'blurry, text', model: 'sd-1_5', sampler: 'dpmpp_2m', cfg: 6.5 },
    );
    const state = renderDone(grid, image);
    expect(state.content).toBe(
      // The model name is escaped (an admin names the folder); the sampler is one of a fixed list, shown as is.
      [
        HEADER,
        'Seeds `1, 2, 3, 4` · 640x384 · 20 steps · cfg 6.5 · dpmpp_2m · sd\\-1\\_5',
        '-# Negative: blurry, text',
        '⚠️ Prompt cut to 75 tokens.',
      ].join('\n'),
    );
    expect(buttons(state).map((row) => row.map((b) => b.shown))).toEqual([
      ['🔄', 'U1', 'U2', 'U3', 'U4'],
      ['V1', 'V2', 'V3', 'V4'],
    ]);
    expect(buttons(state).map((row) => row.map((b) => b.decoded?.action))).toEqual([
      ['reroll', 'u1', 'u2', 'u3', 'u4'],
      ['v1', 'v2', 'v3', 'v4'],
    ]);
    expect(
      buttons(state)
        .flat()
        .every((b) => b.decoded?.jobId === JOB_ID),
    ).toBe(true);
  });

  it('shows the first 300 characters of a long negative prompt, escaped', () => {
    const negative = `${'_'.repeat(299)}ab`;
    const state = renderDone(job({ state: 'done', seeds: [42], outputs: [output(42)] }, { negativePrompt: negative }), image);
    expect(state.content.split('\n')[2]).toBe(`-# Negative: ${'\\_'.repeat(299)}a`);
  });

  it('shows 🌐 and the English a Chinese prompt and negative were translated to, read from the PNG parameters', () => {
    const parameters = formatParameters({
      prompt: '一只猫',
      negativePrompt: '模糊',
      steps: 20,
      sampler: 'euler',
      cfg: 7,
      seed: 42,
      width: 512,
      height: 512,
      model: 'tiny',
      translatedPrompt: '(a cat:1.2), on *mars*',
      translatedNegativePrompt: 'blurry',
    });
    const translated = job({ state: 'done', seeds: [42], outputs: [{ ...output(42), parameters }] }, { prompt: '一只猫', negativePrompt: '模糊' });
    expect(renderDone(translated, image).content.split('\n').slice(2)).toEqual([
      '-# Negative: 模糊',
      '🌐 \\(a cat:1.2\\), on \\*mars\\*',
      '-# 🌐 Negative: blurry',
    ]);
    // Without a translation (or with parameters it cannot read) nothing is added.
    expect(
      renderDone(job({ state: 'done', seeds: [42], outputs: [{ ...output(42), parameters: 'garbage' }] }), image).content.split('\n'),
    ).toHaveLength(2);
  });
});

describe('renderFailed', () => {
  it('shows a message written for the member, escaped', () => {
    const failed = job({
      state: 'failed',
      error: { name: 'UserError', message: 'The model `emoji` is not installed.', userFacing: true, ref: 'r1' },
    });
    expect(renderFailed(failed)).toEqual({ content: `${HEADER}\n❌ The model \\\`emoji\\\` is not installed.`, components: [] });
  });

  it('shows only a reference for an internal error, never its message', () => {
    const failed = job({
      state: 'failed',
      error: { name: 'Error', message: 'ENOENT /srv/secret/models/tiny.onnx', userFacing: false, ref: 'x7Kp2' },
    });
    const state = renderFailed(failed);
    expect(state).toEqual({ content: `${HEADER}\n❌ Something went wrong (ref \`x7Kp2\`).`, components: [] });
    expect(state.content).not.toContain('ENOENT');
    expect(renderFailed(job({ state: 'failed', error: null })).content).toBe(`${HEADER}\n❌ Something went wrong (ref \`unknown\`).`);
  });
});

describe('renderCancelled', () => {
  it('says who cancelled only when it was not the owner', () => {
    expect(renderCancelled(job({ state: 'cancelled', cancelledBy: OWNER }))).toEqual({ content: `${HEADER}\n✖️ Cancelled.`, components: [] });
    expect(renderCancelled(job({ state: 'cancelled', cancelledBy: null })).content).toBe(`${HEADER}\n✖️ Cancelled.`);
    expect(renderCancelled(job({ state: 'cancelled', cancelledBy: MODERATOR })).content).toBe(`${HEADER}\n✖️ Cancelled by <@${MODERATOR}>.`);
  });
});

describe('markdown and length', () => {
  it('escapes every character Discord markdown would read in a prompt', () => {
    expect(escapeMarkdown('*b* _i_ ~~s~~ ||x|| `c` > q # h [l](u) - a\\b')).toBe(
      '\\*b\\* \\_i\\_ \\~\\~s\\~\\~ \\|\\|x\\|\\| \\`c\\` \\> q \\# h \\[l\\]\\(u\\) \\- a\\\\b',
    );
    const state = renderQueued(job({}, { prompt: '**not bold** # not a heading' }), undefined);
    expect(state.content).toBe(`**\\*\\*not bold\\*\\* \\# not a heading** — <@${OWNER}>\n⏳ Queued: waiting for the worker`);
  });

  it('shows the first 900 characters of a long prompt', () => {
    const prompt = `${'a'.repeat(900)}bcd`;
    expect(renderQueued(job({}, { prompt }), undefined).content).toBe(`**${'a'.repeat(900)}…** — <@${OWNER}>\n⏳ Queued: waiting for the worker`);
  });

  it('never sends more than 2000 characters, even with a 1500-character prompt of markdown and long warnings', () => {
    // Every character escaped doubles the shown prompt: 900 → 1800 characters before anything else.
    const prompt = '*'.repeat(1500);
    const long = 'w'.repeat(600);
    const shownHeader = `**${'\\*'.repeat(900)}…** — <@${OWNER}>`;
    const states = [
      renderQueued(job({}, { prompt }), { position: 1, etaMs: 1000 }, [
        text('job.note.refineSettings', { original: long }),
        text('job.note.refineSettings', { original: long }),
      ]),
      renderRunning(job({ state: 'running' }, { prompt, count: 4 }), { step: 19, total: 20, image: 3 }, undefined),
      renderDone(
        job(
          { state: 'done', seeds: [1, 2, 3, 4], outputs: [output(1), output(2), output(3), output(4)], warnings: [long, long, long] },
          { prompt, count: 4, negativePrompt: long },
        ),
        image,
      ),
      renderFailed(job({ state: 'failed', error: { name: 'UserError', message: long, userFacing: true, ref: 'r' } }, { prompt })),
      renderCancelled(job({ state: 'cancelled', cancelledBy: MODERATOR }, { prompt })),
    ];
    for (const state of states) {
      expect(state.content.length).toBeLessThanOrEqual(2000);
      expect(state.content.startsWith(shownHeader)).toBe(true);
    }
    // The ones that ran over are cut at exactly 2000 with an ellipsis.
    for (const state of [states[0], states[2]]) {
      expect(state.content.length).toBe(2000);
      expect(state.content.endsWith('w…')).toBe(true);
    }
    expect(states[1].content).toBe(`${shownHeader}\n🎨 image 4/4 · step 19/20 \`███████████████░\` 95%`);
    expect(states[4].content).toBe(`${shownHeader}\n✖️ Cancelled by <@${MODERATOR}>.`);
  });
});

/** A UTF-16 surrogate without its pair: Discord shows it as � or refuses the message. */
const LONE_SURROGATE = /\p{Cs}/u;

describe('truncateText', () => {
  it('keeps text that fits as it is', () => {
    expect(truncateText('a 🚀', 4)).toBe('a 🚀');
    expect(truncateText('', 0)).toBe('');
  });

  it('never splits a surrogate pair or a grapheme cluster', () => {
    expect(truncateText('ab🚀c', 3)).toBe('ab');
    expect(truncateText('a👩\u200d🚀b', 5)).toBe('a');
    expect(truncateText('a🏳️\u200d🌈', 4)).toBe('a');
    expect(truncateText('cafe\u0301!', 4)).toBe('caf');
    expect(truncateText('ab🚀c', 4)).toBe('ab🚀');
  });

  it('cuts a single cluster longer than the limit between code points, never inside one', () => {
    const zalgo = `a${'\u0301'.repeat(50)}`;
    expect(truncateText(zalgo, 10)).toBe(zalgo.slice(0, 10));
    expect(truncateText('👩\u200d🚀', 3)).toBe('👩\u200d');
    expect(truncateText('👩\u200d🚀', 4)).not.toMatch(LONE_SURROGATE);
  });
});

describe('emoji at a cut point', () => {
  it('shortens a long prompt before an emoji, not inside it', () => {
    const prompt = `${'a'.repeat(899)}🚀${'b'.repeat(20)}`;
    const content = renderQueued(job({}, { prompt }), undefined).content;
    expect(content).toBe(`**${'a'.repeat(899)}…** — <@${OWNER}>\n⏳ Queued: waiting for the worker`);
    expect(content).not.toMatch(LONE_SURROGATE);
  });

  it('shortens a long negative prompt before an emoji, not inside it', () => {
    const negativePrompt = `${'n'.repeat(299)}🚫 more`;
    const state = renderDone(job({ state: 'done', seeds: [42], outputs: [output(42)] }, { negativePrompt }), image);
    expect(state.content.split('\n')[2]).toBe(`-# Negative: ${'n'.repeat(299)}`);
    expect(state.content).not.toMatch(LONE_SURROGATE);
  });

  it('cuts an overlong message before an emoji, not inside it, and stays within 2000 characters', () => {
    // The header and parameters line are fixed; pad the warning so an emoji straddles the 1999th character.
    const done = (warning: string) => renderDone(job({ state: 'done', seeds: [42], outputs: [output(42)], warnings: [warning] }), image);
    const before = done('').content.length;
    const warning = `${'w'.repeat(2000 - 1 - before - 1)}😀${'w'.repeat(50)}`;
    const content = done(warning).content;
    expect(content).not.toMatch(LONE_SURROGATE);
    expect(content.length).toBeLessThanOrEqual(2000);
    expect(content.endsWith('w…')).toBe(true);
  });
});
