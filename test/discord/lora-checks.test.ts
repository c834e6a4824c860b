import { describe, expect, it } from 'vitest';
import { GuildSettingsSchema } from '../../src/config/guild-settings.js';
import { checkLoraTags, checkLorasAllowed } from '../../src/discord/options/lora-checks.js';
import { parseImagineOptions } from '../../src/discord/options/imagine-options.js';
import type { ModelSummary } from '../../src/protocol/generate-request.js';

const installed = [{ name: 'style' }, { name: 'ink' }, { name: 'secret' }];
const all = GuildSettingsSchema.parse({});
const listed = GuildSettingsSchema.parse({ loras: { mode: 'list', allowed: ['style', 'ink'] } });
const none = GuildSettingsSchema.parse({ loras: { mode: 'none' } });
const message = (r: ReturnType<typeof checkLoraTags>) => (r.ok ? 'ok' : r.error.message);

describe('LoRA tags before queueing', () => {
  it('accepts installed, allowed LoRAs (any case) and prompts without tags', () => {
    expect(message(checkLoraTags('a cat <lora:Style:0.8> <lora:ink>', listed, installed))).toBe('ok');
    expect(message(checkLoraTags('a cat', none, installed))).toBe('ok');
  });

  it('refuses unknown, disallowed, too many, and non-numeric weights, saying what to change', () => {
    expect(message(checkLoraTags('<lora:nope:1>', all, installed))).toBe(
      'Unknown LoRA `nope`; available: `style`, `ink`, `secret` (see /help loras).',
    );
    expect(message(checkLoraTags('<lora:nope:1>', listed, installed))).toBe(
      'This server does not allow the LoRA `nope`; allowed here: `style`, `ink`.',
    );
    expect(message(checkLoraTags('<lora:secret:1>', listed, installed))).toBe(
      'This server does not allow the LoRA `secret`; allowed here: `style`, `ink`.',
    );
    expect(message(checkLoraTags('<lora:style:1>', none, installed))).toBe(
      'This server does not allow LoRAs; remove `<lora:style…>` from the prompt.',
    );
    expect(message(checkLoraTags('<lora:a> <lora:b> <lora:c> <lora:d>', all, installed))).toBe('A prompt may use 3 LoRAs at most; it names 4.');
    expect(message(checkLoraTags('<lora:style:strong>', all, installed))).toBe(
      'A LoRA weight must be a number, as in `<lora:name:0.8>`; got `<lora:style:strong>`.',
    );
    // Stored requests (buttons) are held to the allow list as it is now.
    expect(checkLorasAllowed('<lora:secret:1>', listed).ok).toBe(false);
  });

  it('/imagine refuses before queueing', () => {
    const models = [{ name: 'tiny', defaults: {} }] as unknown as ModelSummary[];
    const parsed = parseImagineOptions({ prompt: 'a cat <lora:nope:1>' }, { settings: all, models, loras: installed });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error.message).toMatch(/^Unknown LoRA `nope`/);
    expect(parseImagineOptions({ prompt: 'a cat <lora:ink:0.5>' }, { settings: all, models, loras: installed }).ok).toBe(true);
  });
});

describe('/help topic:loras', () => {
  it('lists the LoRAs this server allows, with trigger words', async () => {
    const { lorasHelp } = await import('../../src/discord/commands/help.js');
    const loras = [
      { name: 'style', triggerWords: ['inkpunk', 'bold lines'], baseModel: 'sd_v1' },
      { name: 'secret', triggerWords: [] },
    ];
    expect(lorasHelp(loras, listed)).toBe(
      '**LoRAs** — add `<lora:name:0.8>` to a prompt (weight 1 when left out); trigger words call up their subject or style:\n`style` — inkpunk, bold lines _(sd v1)_',
    );
    expect(lorasHelp(loras, none)).toMatch(/allows none of the installed LoRAs/);
    expect(lorasHelp([], all)).toMatch(/No LoRA is installed/);
  });
});
