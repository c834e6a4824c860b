import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import type { WorkerStatus } from '../../worker/job-runner.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import type { LoraSummary } from '../../model-folder/lora-catalog.js';
import { loraAllowed } from '../options/lora-checks.js';

/** Discord's message limit, less room for the closing line. */
const MAX_CHARS = 1900;

/** `/help topic:loras`: the LoRAs usable here with their trigger words, as much as fits in one message. */
export function lorasHelp(loras: readonly LoraSummary[], settings?: GuildSettings): string {
  const usable = settings ? loras.filter((l) => loraAllowed(settings, l.name)) : loras;
  if (usable.length === 0) {
    return loras.length === 0
      ? "No LoRA is installed. The bot's operator puts `<name>.safetensors` files in LORAS_DIR."
      : 'This server allows none of the installed LoRAs (an admin sets them with /config loras).';
  }
  const lines = ['**LoRAs** — add `<lora:name:0.8>` to a prompt (weight 1 when left out); trigger words call up their subject or style:'];
  let shown = 0;
  for (const l of usable) {
    const line = `\`${l.name}\`${l.triggerWords.length ? ` — ${l.triggerWords.map((w) => w.replace(/[`\r\n]/g, '')).join(', ')}` : ''}${l.baseModel ? ` _(${l.baseModel.replace(/[_*`\r\n]/g, ' ')})_` : ''}`;
    if (lines.join('\n').length + line.length > MAX_CHARS) break;
    lines.push(line);
    shown++;
  }
  if (shown < usable.length) lines.push(`…and ${usable.length - shown} more.`);
  return lines.join('\n');
}

export const HELP_TEXT = [
  '**/imagine** `prompt` makes an image. Options: negative, size (16:9, portrait, 512x768…), steps, cfg, sampler, seed, count (1–4, a grid), model, clip_skip; `image` + `strength` start from your picture (img2img).',
  '**/edit** `image` `mask` `prompt` repaints the white part of the mask (inpaint). Options: strength, mask_blur, only_masked.',
  'Flags in the prompt work too: `a lighthouse at dusk --ar 16:9 --seed 42 --no text --steps 25 --cfg 7 --sampler euler_a --count 4`.',
  'Prompts read as in AUTOMATIC1111: `(word)` or `(word:1.3)` stronger, `[word]` weaker, `\\(` for a real bracket; long prompts are read in chunks of 75 tokens (8 at most) and `BREAK` starts a new chunk; `--clip-skip 2` as in A1111 (models exported with hidden states).',
  "While it waits you see its place in line; while it runs, the steps and a live preview. ✖️ cancels (yours, or anyone's with Manage Server).",
  'Under a finished image: 🔄 new seed, **V1–V4** a variation of that image, **U1–U4** a 2x upscale. On a single image also Zoom Out 2x/1.5x, pan ⬅️➡️⬆️⬇️, Vary (Subtle/Strong/Region). Anyone may press them; the new job is yours.',
  'Right-click a message → **Apps → Imagine this** to draw its text. Reply to a finished image and mention the bot (`@bot make it blue, at night`) for a new one from its prompt plus yours, same seed; add `--replace` to use your words alone.',
  'ControlNet: `control_image` guides the layout (`preprocess` canny/depth for a photo; `control`, `control_strength`); **🎛 Use as control** reuses a result.',
  'LoRAs as in A1111: `<lora:name:0.8>` in the prompt (weight 1 when left out, 3 at most); **/help topic:loras** lists them and their trigger words.',
  "**/queue** shows this server's queue. **/config** (Manage Server) sets defaults, limits, channels, banned words, previews and LoRAs.",
].join('\n');

/**
 * One line on what the bot runs on and with how many workers, so operators and users can see a GPU setup really
 * took, and why nothing moves when no worker runs.
 */
export function statusLine(
  provider: string | undefined,
  models: readonly string[],
  defaultModel?: string,
  workers: readonly Pick<WorkerStatus, 'state'>[] = [{ state: provider ? 'idle' : 'starting' }],
): string {
  if (workers.length === 0) {
    return "_Status: no image worker runs on this bot (WORKERS=0), so images wait in the queue. The bot's operator can set WORKERS=1 (or EXECUTION_DEVICE_IDS) and restart it._";
  }
  const up = workers.filter((worker) => worker.state !== 'starting').length;
  const count = workers.length === 1 ? '1 worker' : `${workers.length} workers`;
  if (!provider || up === 0) return workers.length === 1 ? '_Status: the image worker is starting._' : `_Status: the ${count} are starting._`;
  const names = models.map((m) => (m === defaultModel ? `${m} (default)` : m)).join(', ') || 'none installed';
  const ready = up === workers.length ? '' : `, ${up} ready, the others starting`;
  return `_Status: images run on **${provider}** with ${count}${ready}; models: ${names}._`;
}

export function helpCommand(
  context: Pick<BotContext, 'executionProvider' | 'models' | 'defaultModel' | 'workers' | 'loras'> & Partial<Pick<BotContext, 'settings'>>,
): CommandHandler {
  return {
    name: 'help',
    async execute(interaction: ChatInputCommandInteraction) {
      if (interaction.options.getString('topic') === 'loras') {
        const settings = interaction.guildId && context.settings ? context.settings.get(interaction.guildId) : undefined;
        return void (await interaction.reply({
          content: lorasHelp(context.loras?.() ?? [], settings),
          flags: MessageFlags.Ephemeral,
          allowedMentions: { parse: [] },
        }));
      }
      const status = statusLine(
        context.executionProvider(),
        context.models().map((m) => m.name),
        context.defaultModel,
        context.workers(),
      );
      await interaction.reply({ content: `${HELP_TEXT}\n${status}`, flags: MessageFlags.Ephemeral });
    },
  };
}
