import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { BOUNDS } from '../src/config/guild-settings.js';
import { CONTROL_PREPROCESSORS, REQUEST_BOUNDS, REQUEST_DEFAULTS } from '../src/protocol/generate-request.js';
import { SAMPLER_NAMES } from '../src/protocol/samplers.js';

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
export const data = new SlashCommandBuilder()
  .setName('imagine')
  .setDescription('Generate an image from a prompt (flags work too: --ar 16:9 --seed 42 --no text)')
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) =>
    o
      .setName(IMAGINE_OPTIONS.prompt)
      .setDescription('What to draw; (word:1.3) stronger, [word] weaker, BREAK; may end with --ar, --seed, --no')
      .setRequired(true)
      .setMaxLength(BOUNDS.promptChars),
  )
  .addStringOption((o) => o.setName(IMAGINE_OPTIONS.negative).setDescription('What to keep out of the image').setMaxLength(BOUNDS.negativeChars))
  .addStringOption((o) =>
    o.setName(IMAGINE_OPTIONS.size).setDescription('Aspect (16:9, portrait, wide...) or WxH such as 512x768').setAutocomplete(true).setMaxLength(20),
  )
  .addIntegerOption((o) =>
    o.setName(IMAGINE_OPTIONS.steps).setDescription('Denoising steps').setMinValue(BOUNDS.steps.min).setMaxValue(BOUNDS.steps.max),
  )
  .addNumberOption((o) =>
    o
      .setName(IMAGINE_OPTIONS.cfg)
      .setDescription('Guidance scale: how closely to follow the prompt')
      .setMinValue(BOUNDS.cfg.min)
      .setMaxValue(BOUNDS.cfg.max),
  )
  .addStringOption((o) =>
    o
      .setName(IMAGINE_OPTIONS.sampler)
      .setDescription('Sampler')
      .addChoices(...SAMPLER_NAMES.map((name) => ({ name, value: name }))),
  )
  .addIntegerOption((o) =>
    o.setName(IMAGINE_OPTIONS.seed).setDescription('Seed, for repeatable images').setMinValue(BOUNDS.seed.min).setMaxValue(BOUNDS.seed.max),
  )
  .addIntegerOption((o) =>
    o.setName(IMAGINE_OPTIONS.count).setDescription('Images (a grid when more than 1)').setMinValue(BOUNDS.count.min).setMaxValue(BOUNDS.count.max),
  )
  .addStringOption((o) => o.setName(IMAGINE_OPTIONS.model).setDescription('Model').setAutocomplete(true).setMaxLength(100))
  .addIntegerOption((o) =>
    o
      .setName(IMAGINE_OPTIONS.clipSkip)
      .setDescription('Clip skip as in AUTOMATIC1111 (2 for many anime models)')
      .setMinValue(BOUNDS.clipSkip.min)
      .setMaxValue(BOUNDS.clipSkip.max),
  )
  .addAttachmentOption((o) => o.setName(IMAGINE_OPTIONS.image).setDescription('Start from this picture (PNG, JPEG or WebP): img2img'))
  .addNumberOption((o) =>
    o
      .setName(IMAGINE_OPTIONS.strength)
      .setDescription(`With image: how much to change it, ${STRENGTH_RANGE.min} (a touch) to 1 (redraw); default ${REQUEST_DEFAULTS.img2imgStrength}`)
      .setMinValue(STRENGTH_RANGE.min)
      .setMaxValue(STRENGTH_RANGE.max),
  )
  // ControlNet (issue #15): 16 options of Discord's 25.
  .addAttachmentOption((o) =>
    o.setName(IMAGINE_OPTIONS.controlImage).setDescription('ControlNet: guide the layout with this picture or map (PNG, JPEG or WebP)'),
  )
  .addStringOption((o) =>
    o.setName(IMAGINE_OPTIONS.control).setDescription("With control_image: which of the model's ControlNets").setAutocomplete(true).setMaxLength(100),
  )
  .addNumberOption((o) =>
    o
      .setName(IMAGINE_OPTIONS.controlStrength)
      .setDescription(`With control_image: how strongly it guides, 0 to 2; default ${REQUEST_DEFAULTS.control.strength}`)
      .setMinValue(REQUEST_BOUNDS.controlStrength.min)
      .setMaxValue(REQUEST_BOUNDS.controlStrength.max),
  )
  .addStringOption((o) =>
    o
      .setName(IMAGINE_OPTIONS.preprocess)
      .setDescription('With control_image: none (it is already a map; default), canny (its edges) or depth (its depth map)')
      .addChoices(...CONTROL_PREPROCESSORS.map((name) => ({ name, value: name }))),
  );
