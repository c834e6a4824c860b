import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import type { WorkerStatus } from '../../worker/job-runner.js';

export const HELP_TEXT = [
  '**/imagine** `prompt` makes an image. Options: negative, size (16:9, portrait, 512x768…), steps, cfg, sampler, seed, count (1–4, a grid), model, clip_skip; `image` + `strength` start from your picture (img2img).',
  '**/edit** `image` `mask` `prompt` repaints the white part of the mask (inpaint). Options: strength, mask_blur, only_masked.',
  'Flags in the prompt work too: `a lighthouse at dusk --ar 16:9 --seed 42 --no text --steps 25 --cfg 7 --sampler euler_a --count 4`.',
  'Prompts read as in AUTOMATIC1111: `(word)` or `(word:1.3)` stronger, `[word]` weaker, `\\(` for a real bracket; long prompts are read in chunks of 75 tokens (8 at most) and `BREAK` starts a new chunk; `--clip-skip 2` as in A1111 (models exported with hidden states).',
  'While it waits you see its place in line; while it runs, the steps and a live preview. ✖️ cancels (yours, or anyone\'s with Manage Server).',
  'Under a finished image: 🔄 new seed, **V1–V4** a variation of that image, **U1–U4** a 2x upscale. On a single image also Zoom Out 2x/1.5x, pan ⬅️➡️⬆️⬇️, Vary (Subtle/Strong/Region). Anyone may press them; the new job is yours.',
  'Right-click a message → **Apps → Imagine this** to draw its text. Reply to a finished image and mention the bot (`@bot make it blue, at night`) for a new one from its prompt plus yours, same seed; add `--replace` to use your words alone.',
  '**/queue** shows this server\'s queue. **/config** (Manage Server) sets defaults, limits, channels, banned words and previews.',
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
    return '_Status: no image worker runs on this bot (WORKERS=0), so images wait in the queue. The bot\'s operator can set WORKERS=1 (or EXECUTION_DEVICE_IDS) and restart it._';
  }
  const up = workers.filter((worker) => worker.state !== 'starting').length;
  const count = workers.length === 1 ? '1 worker' : `${workers.length} workers`;
  if (!provider || up === 0) return workers.length === 1 ? '_Status: the image worker is starting._' : `_Status: the ${count} are starting._`;
  const names = models.map((m) => (m === defaultModel ? `${m} (default)` : m)).join(', ') || 'none installed';
  const ready = up === workers.length ? '' : `, ${up} ready, the others starting`;
  return `_Status: images run on **${provider}** with ${count}${ready}; models: ${names}._`;
}

export function helpCommand(context: Pick<BotContext, 'executionProvider' | 'models' | 'defaultModel' | 'workers'>): CommandHandler {
  return {
    name: 'help',
    async execute(interaction: ChatInputCommandInteraction) {
      const status = statusLine(context.executionProvider(), context.models().map((m) => m.name), context.defaultModel, context.workers());
      await interaction.reply({ content: `${HELP_TEXT}\n${status}`, flags: MessageFlags.Ephemeral });
    },
  };
}
