import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { BOUNDS } from '../src/config/guild-settings.js';
import { REQUEST_DEFAULTS } from '../src/protocol/generate-request.js';
import { STRENGTH_RANGE } from './imagine.js';

/** Option names, shared by the definition and the handler. */
export const EDIT_OPTIONS = {
  image: 'image',
  mask: 'mask',
  prompt: 'prompt',
  strength: 'strength',
  maskBlur: 'mask_blur',
  onlyMasked: 'only_masked',
  negative: 'negative',
  steps: 'steps',
  seed: 'seed',
  model: 'model',
} as const;

/** Most pixels of mask-edge blur (the request contract's bound). */
export const MASK_BLUR_MAX = 64;

// Guild-only, like /imagine: settings, limits and the fair queue are per guild.
export const data = new SlashCommandBuilder()
  .setName('edit')
  .setDescription('Repaint part of a picture: white in the mask is redrawn from the prompt, black is kept (inpaint)')
  .setContexts(InteractionContextType.Guild)
  .addAttachmentOption((o) => o.setName(EDIT_OPTIONS.image).setDescription('The picture to edit (PNG, JPEG or WebP)').setRequired(true))
  .addAttachmentOption((o) =>
    o.setName(EDIT_OPTIONS.mask).setDescription('Black and white picture: white = repaint (stretched to the picture)').setRequired(true),
  )
  .addStringOption((o) =>
    o.setName(EDIT_OPTIONS.prompt).setDescription('What to paint in the white area').setRequired(true).setMaxLength(BOUNDS.promptChars),
  )
  .addNumberOption((o) =>
    o
      .setName(EDIT_OPTIONS.strength)
      .setDescription(`How much the white area changes, ${STRENGTH_RANGE.min} to 1; default ${REQUEST_DEFAULTS.inpaint.strength}`)
      .setMinValue(STRENGTH_RANGE.min)
      .setMaxValue(STRENGTH_RANGE.max),
  )
  .addIntegerOption((o) =>
    o
      .setName(EDIT_OPTIONS.maskBlur)
      .setDescription(`Soften the mask edge by this many pixels; default ${REQUEST_DEFAULTS.inpaint.maskBlur}`)
      .setMinValue(0)
      .setMaxValue(MASK_BLUR_MAX),
  )
  .addBooleanOption((o) =>
    o.setName(EDIT_OPTIONS.onlyMasked).setDescription('Work on the masked area only, at full resolution (more detail in small areas)'),
  )
  .addStringOption((o) => o.setName(EDIT_OPTIONS.negative).setDescription('What to keep out of the white area').setMaxLength(BOUNDS.negativeChars))
  .addIntegerOption((o) =>
    o.setName(EDIT_OPTIONS.steps).setDescription('Denoising steps').setMinValue(BOUNDS.steps.min).setMaxValue(BOUNDS.steps.max),
  )
  .addIntegerOption((o) =>
    o.setName(EDIT_OPTIONS.seed).setDescription('Seed, for repeatable edits').setMinValue(BOUNDS.seed.min).setMaxValue(BOUNDS.seed.max),
  )
  .addStringOption((o) => o.setName(EDIT_OPTIONS.model).setDescription('Model').setAutocomplete(true).setMaxLength(100));
