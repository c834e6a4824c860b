import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { BOUNDS } from '../src/config/guild-settings.js';
import { REQUEST_DEFAULTS } from '../src/protocol/generate-request.js';
import { STRENGTH_RANGE } from './imagine.js';
import { named } from './localize.js';

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
export const data = named(new SlashCommandBuilder(), 'edit', 'cmd.edit.name', 'cmd.edit.description')
  .setContexts(InteractionContextType.Guild)
  .addAttachmentOption((o) => named(o, EDIT_OPTIONS.image, 'cmd.edit.image.name', 'cmd.edit.image.description').setRequired(true))
  .addAttachmentOption((o) => named(o, EDIT_OPTIONS.mask, 'cmd.edit.mask.name', 'cmd.edit.mask.description').setRequired(true))
  .addStringOption((o) =>
    named(o, EDIT_OPTIONS.prompt, 'cmd.edit.prompt.name', 'cmd.edit.prompt.description').setRequired(true).setMaxLength(BOUNDS.promptChars),
  )
  .addNumberOption((o) =>
    named(o, EDIT_OPTIONS.strength, 'cmd.edit.strength.name', 'cmd.edit.strength.description', {
      min: STRENGTH_RANGE.min,
      default: REQUEST_DEFAULTS.inpaint.strength,
    })
      .setMinValue(STRENGTH_RANGE.min)
      .setMaxValue(STRENGTH_RANGE.max),
  )
  .addIntegerOption((o) =>
    named(o, EDIT_OPTIONS.maskBlur, 'cmd.edit.mask_blur.name', 'cmd.edit.mask_blur.description', { default: REQUEST_DEFAULTS.inpaint.maskBlur })
      .setMinValue(0)
      .setMaxValue(MASK_BLUR_MAX),
  )
  .addBooleanOption((o) => named(o, EDIT_OPTIONS.onlyMasked, 'cmd.edit.only_masked.name', 'cmd.edit.only_masked.description'))
  .addStringOption((o) =>
    named(o, EDIT_OPTIONS.negative, 'cmd.edit.negative.name', 'cmd.edit.negative.description').setMaxLength(BOUNDS.negativeChars),
  )
  .addIntegerOption((o) =>
    named(o, EDIT_OPTIONS.steps, 'cmd.edit.steps.name', 'cmd.edit.steps.description').setMinValue(BOUNDS.steps.min).setMaxValue(BOUNDS.steps.max),
  )
  .addIntegerOption((o) =>
    named(o, EDIT_OPTIONS.seed, 'cmd.edit.seed.name', 'cmd.edit.seed.description').setMinValue(BOUNDS.seed.min).setMaxValue(BOUNDS.seed.max),
  )
  .addStringOption((o) => named(o, EDIT_OPTIONS.model, 'cmd.edit.model.name', 'cmd.edit.model.description').setAutocomplete(true).setMaxLength(100));
