import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';

export const HELP_TEXT = [
  '**/imagine** `prompt` makes an image. Options: negative, size (16:9, portrait, 512x768…), steps, cfg, sampler, seed, count (1–4, a grid), model; `image` + `strength` start from your picture (img2img).',
  '**/edit** `image` `mask` `prompt` repaints the white part of the mask (inpaint). Options: strength, mask_blur, only_masked.',
  'Flags in the prompt work too: `a lighthouse at dusk --ar 16:9 --seed 42 --no text --steps 25 --cfg 7 --sampler euler_a --count 4`.',
  'While it waits you see its place in line; while it runs, the steps and a live preview. ✖️ cancels (yours, or anyone\'s with Manage Server).',
  'Under a finished image: 🔄 new seed, **V1–V4** a variation of that image, **U1–U4** a 2x upscale. On a single image also Zoom Out 2x/1.5x, pan ⬅️➡️⬆️⬇️, Vary (Subtle/Strong/Region). Anyone may press them; the new job is yours.',
  '**/queue** shows this server\'s queue. **/config** (Manage Server) sets defaults, limits, channels, banned words and previews.',
].join('\n');

/** One line on what the bot runs on, so operators and users can see a GPU setup really took. */
export function statusLine(provider: string | undefined, models: readonly string[], defaultModel?: string): string {
  if (!provider) return '_Status: the image worker is starting._';
  const names = models.map((m) => (m === defaultModel ? `${m} (default)` : m)).join(', ') || 'none installed';
  return `_Status: images run on **${provider}**; models: ${names}._`;
}

export function helpCommand(context: Pick<BotContext, 'executionProvider' | 'models' | 'defaultModel'>): CommandHandler {
  return {
    name: 'help',
    async execute(interaction: ChatInputCommandInteraction) {
      const status = statusLine(context.executionProvider(), context.models().map((m) => m.name), context.defaultModel);
      await interaction.reply({ content: `${HELP_TEXT}\n${status}`, flags: MessageFlags.Ephemeral });
    },
  };
}
