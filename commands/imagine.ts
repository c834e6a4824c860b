import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { BOUNDS } from '../src/config/guild-settings.js';
import { CONTROL_PREPROCESSORS, REQUEST_BOUNDS, REQUEST_DEFAULTS } from '../src/protocol/generate-request.js';
import { SAMPLER_NAMES } from '../src/protocol/samplers.js';
import { choice, named } from './localize.js';

/** Option names, shared by the definition and the handler so a rename cannot split them. */
export const IMAGINE_OPTIONS = {
  prompt: 'prompt',
  negative: 'negative',
  size: 'size',
  steps: 'steps',
  cfg: 'cfg',
  sampler: 'sampler',
  seed: 'seed',
  count: 'count',
  model: 'model',
  clipSkip: 'clip_skip',
  image: 'image',
  strength: 'strength',
  controlImage: 'control_image',
  control: 'control',
  controlStrength: 'control_strength',
  preprocess: 'preprocess',
} as const;

/** The strength options' range: below 0.05 an img2img changes next to nothing; 1 redraws the picture. */
export const STRENGTH_RANGE = { min: 0.05, max: 1 } as const;

// Guild-only: settings, limits and the fair queue are per guild.
export const data = named(new SlashCommandBuilder(), 'imagine', 'cmd.imagine.name', 'cmd.imagine.description')
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) =>
    named(o, IMAGINE_OPTIONS.prompt, 'cmd.imagine.prompt.name', 'cmd.imagine.prompt.description').setRequired(true).setMaxLength(BOUNDS.promptChars),
  )
  .addStringOption((o) =>
    named(o, IMAGINE_OPTIONS.negative, 'cmd.imagine.negative.name', 'cmd.imagine.negative.description').setMaxLength(BOUNDS.negativeChars),
  )
  .addStringOption((o) =>
    named(o, IMAGINE_OPTIONS.size, 'cmd.imagine.size.name', 'cmd.imagine.size.description').setAutocomplete(true).setMaxLength(20),
  )
  .addIntegerOption((o) =>
    named(o, IMAGINE_OPTIONS.steps, 'cmd.imagine.steps.name', 'cmd.imagine.steps.description')
      .setMinValue(BOUNDS.steps.min)
      .setMaxValue(BOUNDS.steps.max),
  )
  .addNumberOption((o) =>
    named(o, IMAGINE_OPTIONS.cfg, 'cmd.imagine.cfg.name', 'cmd.imagine.cfg.description').setMinValue(BOUNDS.cfg.min).setMaxValue(BOUNDS.cfg.max),
  )
  .addStringOption((o) =>
    // Sampler names are technical identifiers (as in A1111), the same in every language.
    named(o, IMAGINE_OPTIONS.sampler, 'cmd.imagine.sampler.name', 'cmd.imagine.sampler.description').addChoices(
      ...SAMPLER_NAMES.map((name) => ({ name, value: name })),
    ),
  )
  .addIntegerOption((o) =>
    named(o, IMAGINE_OPTIONS.seed, 'cmd.imagine.seed.name', 'cmd.imagine.seed.description').setMinValue(BOUNDS.seed.min).setMaxValue(BOUNDS.seed.max),
  )
  .addIntegerOption((o) =>
    named(o, IMAGINE_OPTIONS.count, 'cmd.imagine.count.name', 'cmd.imagine.count.description')
      .setMinValue(BOUNDS.count.min)
      .setMaxValue(BOUNDS.count.max),
  )
  .addStringOption((o) =>
    named(o, IMAGINE_OPTIONS.model, 'cmd.imagine.model.name', 'cmd.imagine.model.description').setAutocomplete(true).setMaxLength(100),
  )
  .addIntegerOption((o) =>
    named(o, IMAGINE_OPTIONS.clipSkip, 'cmd.imagine.clip_skip.name', 'cmd.imagine.clip_skip.description')
      .setMinValue(BOUNDS.clipSkip.min)
      .setMaxValue(BOUNDS.clipSkip.max),
  )
  .addAttachmentOption((o) => named(o, IMAGINE_OPTIONS.image, 'cmd.imagine.image.name', 'cmd.imagine.image.description'))
  .addNumberOption((o) =>
    named(o, IMAGINE_OPTIONS.strength, 'cmd.imagine.strength.name', 'cmd.imagine.strength.description', {
      min: STRENGTH_RANGE.min,
      default: REQUEST_DEFAULTS.img2imgStrength,
    })
      .setMinValue(STRENGTH_RANGE.min)
      .setMaxValue(STRENGTH_RANGE.max),
  )
  // ControlNet (issue #15): 16 options of Discord's 25.
  .addAttachmentOption((o) => named(o, IMAGINE_OPTIONS.controlImage, 'cmd.imagine.control_image.name', 'cmd.imagine.control_image.description'))
  .addStringOption((o) =>
    named(o, IMAGINE_OPTIONS.control, 'cmd.imagine.control.name', 'cmd.imagine.control.description').setAutocomplete(true).setMaxLength(100),
  )
  .addNumberOption((o) =>
    named(o, IMAGINE_OPTIONS.controlStrength, 'cmd.imagine.control_strength.name', 'cmd.imagine.control_strength.description', {
      min: REQUEST_BOUNDS.controlStrength.min,
      max: REQUEST_BOUNDS.controlStrength.max,
      default: REQUEST_DEFAULTS.control.strength,
    })
      .setMinValue(REQUEST_BOUNDS.controlStrength.min)
      .setMaxValue(REQUEST_BOUNDS.controlStrength.max),
  )
  .addStringOption((o) =>
    named(o, IMAGINE_OPTIONS.preprocess, 'cmd.imagine.preprocess.name', 'cmd.imagine.preprocess.description').addChoices(
      ...CONTROL_PREPROCESSORS.map((name) => choice(name, `cmd.imagine.preprocess.${name}`)),
    ),
  );
