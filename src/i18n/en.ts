/**
 * English: the reference catalogue. Every other locale is typed as `Catalogue` (this object's type), so a key missing
 * there, or a message taking other parameters, is a compile error; test/i18n/catalogues.test.ts checks the same at
 * run time. A message is a string, or a function of typed parameters when it has placeholders. Parameters are plain
 * strings, numbers and literal unions (they are stored with a job's failure), never sentences of another locale.
 *
 * Keys: `cmd.*` command registration (names: the English name, used only to check the definitions), `job.*` public
 * job messages, `error.*` refusals, then one group per command.
 */

export type Field = 'steps' | 'cfg' | 'clipSkip' | 'seed' | 'count' | 'controlStrength' | 'cannyLow' | 'cannyHigh';
type Via = 'option' | 'flag' | 'both';
type Upload = 'image' | 'mask' | 'control';
type Doing = 'img2img' | 'edit';
type PromptPart = 'prompt' | 'negative';
type Pan = 'left' | 'right' | 'up' | 'down';

const FIELD: Record<Field, string> = {
  steps: 'Steps',
  cfg: 'CFG',
  clipSkip: 'Clip skip',
  seed: 'Seed',
  count: 'Count',
  controlStrength: 'Control strength',
  cannyLow: 'Canny low threshold',
  cannyHigh: 'Canny high threshold',
};
/** The prompt flag of each field: the same in every language, so other catalogues import it. */
export const FLAG: Record<Field, string> = {
  steps: '--steps',
  cfg: '--cfg',
  clipSkip: '--clip-skip',
  seed: '--seed',
  count: '--count',
  controlStrength: '--control-strength',
  cannyLow: '--canny-low',
  cannyHigh: '--canny-high',
};
const fieldName = (field: Field, via: Via) =>
  via === 'flag' ? `\`${FLAG[field]}\`` : via === 'both' && field === 'seed' ? 'The seed' : FIELD[field];
const UPLOAD: Record<Upload, string> = { image: 'image', mask: 'mask', control: 'control image' };
const DOING: Record<Doing, string> = { img2img: 'start from a picture', edit: 'edit pictures' };
const PART: Record<PromptPart, string> = { prompt: 'prompt', negative: 'negative prompt' };
const PAN: Record<Pan, string> = { left: 'left', right: 'right', up: 'up', down: 'down' };
const STATE = { done: 'finished', failed: 'failed', cancelled: 'cancelled', queued: 'queued', running: 'running' } as const;
const why = (lowered: boolean, limit: string) => (lowered ? ` (this server's ${limit})` : '');
const images = (n: number) => `${n} ${n === 1 ? 'image' : 'images'}`;

export const en = {
  // ---- registration: names (English, internal) and descriptions ----
  'cmd.imagine.name': 'imagine',
  'cmd.imagine.description': 'Generate an image from a prompt (flags work too: --ar 16:9 --seed 42 --no text)',
  'cmd.imagine.prompt.name': 'prompt',
  'cmd.imagine.prompt.description': 'What to draw; (word:1.3) stronger, [word] weaker, BREAK; may end with --ar, --seed, --no',
  'cmd.imagine.negative.name': 'negative',
  'cmd.imagine.negative.description': 'What to keep out of the image',
  'cmd.imagine.size.name': 'size',
  'cmd.imagine.size.description': 'Aspect (16:9, portrait, wide...) or WxH such as 512x768',
  'cmd.imagine.steps.name': 'steps',
  'cmd.imagine.steps.description': 'Denoising steps',
  'cmd.imagine.cfg.name': 'cfg',
  'cmd.imagine.cfg.description': 'Guidance scale: how closely to follow the prompt',
  'cmd.imagine.sampler.name': 'sampler',
  'cmd.imagine.sampler.description': 'Sampler',
  'cmd.imagine.seed.name': 'seed',
  'cmd.imagine.seed.description': 'Seed, for repeatable images',
  'cmd.imagine.count.name': 'count',
  'cmd.imagine.count.description': 'Images (a grid when more than 1)',
  'cmd.imagine.model.name': 'model',
  'cmd.imagine.model.description': 'Model',
  'cmd.imagine.clip_skip.name': 'clip_skip',
  'cmd.imagine.clip_skip.description': 'Clip skip as in AUTOMATIC1111 (2 for many anime models)',
  'cmd.imagine.image.name': 'image',
  'cmd.imagine.image.description': 'Start from this picture (PNG, JPEG or WebP): img2img',
  'cmd.imagine.strength.name': 'strength',
  'cmd.imagine.strength.description': (p: { min: number; default: number }) =>
    `With image: how much to change it, ${p.min} (a touch) to 1 (redraw); default ${p.default}`,

  'cmd.imagine.control_image.name': 'control_image',
  'cmd.imagine.control_image.description': 'ControlNet: guide the layout with this picture or map (PNG, JPEG or WebP)',
  'cmd.imagine.control.name': 'control',
  'cmd.imagine.control.description': "With control_image: which of the model's ControlNets",
  'cmd.imagine.control_strength.name': 'control_strength',
  'cmd.imagine.control_strength.description': (p: { min: number; max: number; default: number }) =>
    `With control_image: how strongly it guides, ${p.min} to ${p.max}; default ${p.default}`,
  'cmd.imagine.preprocess.name': 'preprocess',
  'cmd.imagine.preprocess.description': 'With control_image: none (it is already a map; default), canny (its edges) or depth',
  'cmd.imagine.preprocess.none': 'none (the upload is the map)',
  'cmd.imagine.preprocess.canny': 'canny (edges)',
  'cmd.imagine.preprocess.depth': 'depth (depth map)',

  'cmd.edit.name': 'edit',
  'cmd.edit.description': 'Repaint part of a picture: white in the mask is redrawn from the prompt, black is kept (inpaint)',
  'cmd.edit.image.name': 'image',
  'cmd.edit.image.description': 'The picture to edit (PNG, JPEG or WebP)',
  'cmd.edit.mask.name': 'mask',
  'cmd.edit.mask.description': 'Black and white picture: white = repaint (stretched to the picture)',
  'cmd.edit.prompt.name': 'prompt',
  'cmd.edit.prompt.description': 'What to paint in the white area',
  'cmd.edit.strength.name': 'strength',
  'cmd.edit.strength.description': (p: { min: number; default: number }) => `How much the white area changes, ${p.min} to 1; default ${p.default}`,
  'cmd.edit.mask_blur.name': 'mask_blur',
  'cmd.edit.mask_blur.description': (p: { default: number }) => `Soften the mask edge by this many pixels; default ${p.default}`,
  'cmd.edit.only_masked.name': 'only_masked',
  'cmd.edit.only_masked.description': 'Work on the masked area only, at full resolution (more detail in small areas)',
  'cmd.edit.negative.name': 'negative',
  'cmd.edit.negative.description': 'What to keep out of the white area',
  'cmd.edit.steps.name': 'steps',
  'cmd.edit.steps.description': 'Denoising steps',
  'cmd.edit.seed.name': 'seed',
  'cmd.edit.seed.description': 'Seed, for repeatable edits',
  'cmd.edit.model.name': 'model',
  'cmd.edit.model.description': 'Model',

  'cmd.queue.name': 'queue',
  'cmd.queue.description': "Show this server's image queue and your own jobs",

  'cmd.help.name': 'help',
  'cmd.help.description': 'How to use the image bot',
  'cmd.help.topic.name': 'topic',
  'cmd.help.topic.description': 'More on one topic',
  'cmd.help.topic.loras': 'loras',

  'cmd.imagine_this.name': 'Imagine this',

  'cmd.config.name': 'config',
  'cmd.config.description': 'Show or change how /imagine works in this server',
  'cmd.config.show.name': 'show',
  'cmd.config.show.description': 'Show the current settings',
  'cmd.config.defaults.name': 'defaults',
  'cmd.config.defaults.description': 'Set what /imagine uses when an option is not given',
  'cmd.config.defaults.model.description': 'Default model',
  'cmd.config.defaults.steps.description': 'Default steps',
  'cmd.config.defaults.cfg.description': 'Default guidance scale',
  'cmd.config.defaults.sampler.description': 'Default sampler',
  'cmd.config.defaults.size.description': 'Default size, WxH such as 512x512',
  'cmd.config.defaults.negative.description': 'Default negative prompt',
  'cmd.config.defaults.count.description': 'Default image count',
  'cmd.config.defaults.unset.name': 'unset',
  'cmd.config.defaults.unset.description': "Clear one default (back to the model's own) or all of them",
  'cmd.config.unset.model': 'model',
  'cmd.config.unset.steps': 'steps',
  'cmd.config.unset.cfg': 'cfg',
  'cmd.config.unset.sampler': 'sampler',
  'cmd.config.unset.size': 'size',
  'cmd.config.unset.negative': 'negative',
  'cmd.config.unset.count': 'count',
  'cmd.config.unset.all': 'all',
  'cmd.config.limits.name': 'limits',
  'cmd.config.limits.description': 'Set the limits every /imagine must stay within',
  'cmd.config.limits.max_steps.name': 'max_steps',
  'cmd.config.limits.max_steps.description': 'Most steps a job may use',
  'cmd.config.limits.max_pixels.name': 'max_pixels',
  'cmd.config.limits.max_pixels.description': 'Most pixels per image (width × height)',
  'cmd.config.limits.max_count.name': 'max_count',
  'cmd.config.limits.max_count.description': 'Most images per job',
  'cmd.config.limits.user_queue.name': 'user_queue',
  'cmd.config.limits.user_queue.description': 'Jobs one member may have waiting or running',
  'cmd.config.limits.user_cooldown.name': 'user_cooldown',
  'cmd.config.limits.user_cooldown.description': 'Seconds between two jobs of one member (0 = off)',
  'cmd.config.limits.guild_queue.name': 'guild_queue',
  'cmd.config.limits.guild_queue.description': 'Jobs this server may have waiting or running',
  'cmd.config.limits.max_upload_mib.name': 'max_upload_mib',
  'cmd.config.limits.max_upload_mib.description': 'Largest picture members may upload to /imagine and /edit, in MiB',
  'cmd.config.channels.name': 'channels',
  'cmd.config.channels.description': 'Limit /imagine to some channels (none listed = everywhere)',
  'cmd.config.action.name': 'action',
  'cmd.config.action.description': 'What to do',
  'cmd.config.action.add': 'add',
  'cmd.config.action.remove': 'remove',
  'cmd.config.action.clear': 'clear',
  'cmd.config.action.all': 'all',
  'cmd.config.action.none': 'none',
  'cmd.config.channels.channel.name': 'channel',
  'cmd.config.channels.channel.description': 'The channel to add or remove',
  'cmd.config.banned_words.name': 'banned-words',
  'cmd.config.banned_words.description': 'Words refused in prompts',
  'cmd.config.banned_words.words.name': 'words',
  'cmd.config.banned_words.words.description': 'Comma-separated words or phrases',
  'cmd.config.preview.name': 'preview',
  'cmd.config.preview.description': 'Live previews while an image is generated',
  'cmd.config.enabled.name': 'enabled',
  'cmd.config.preview.enabled.description': 'Show previews',
  'cmd.config.preview.every.name': 'every',
  'cmd.config.preview.every.description': 'A preview every this many steps',
  'cmd.config.translate.name': 'translate',
  'cmd.config.translate.description': 'Translate Chinese prompts to English for models that read English only',
  'cmd.config.translate.enabled.description': 'Translate (on) or keep prompts as typed (off)',
  'cmd.config.loras.name': 'loras',
  'cmd.config.loras.description': 'Which installed LoRAs <lora:name:weight> may use here',
  'cmd.config.loras.action.description': 'all, none, or edit the allowed list',
  'cmd.config.loras.names.name': 'names',
  'cmd.config.loras.names.description': 'Comma-separated LoRA names (see /help loras)',
  'cmd.config.language.name': 'language',
  'cmd.config.language.description': "The language of this server's public job messages",
  'cmd.config.language.language.description': "auto follows the server's language in Discord",
  'cmd.config.language.auto': "auto (the server's language)",
  'cmd.config.reset.name': 'reset',
  'cmd.config.reset.description': 'Back to the bot defaults',

  // ---- /imagine size autocomplete (the value stays the English preset) ----
  'size.square': 'square (1:1)',
  'size.portrait': 'portrait (2:3)',
  'size.landscape': 'landscape (3:2)',
  'size.wide': 'wide (16:9)',
  'size.tall': 'tall (9:16)',

  'eta.seconds': (p: { seconds: number }) => `~${p.seconds} s`,
  'eta.minutes': (p: { minutes: number }) => `~${p.minutes} min`,
  'eta.hours': (p: { hours: number; minutes: number }) => `~${p.hours} h ${p.minutes} min`,

  // ---- generic ----
  'frame.refused': (p: { detail: string }) => p.detail,
  'frame.failed': (p: { detail: string }) => p.detail,
  'error.internal': (p: { ref: string }) => `Something went wrong (ref \`${p.ref}\`).`,
  'error.staleButton': 'This button belongs to an older version of the bot and no longer works. Run /imagine again.',
  'error.staleForm': 'This form belongs to an older version of the bot and no longer works. Press the button again.',

  // ---- public job messages ----
  'job.queued': (p: { position: number; eta?: string }) => `⏳ Queued: #${p.position} in line${p.eta ? ` · starts in ${p.eta}` : ''}`,
  'job.queuedWaiting': '⏳ Queued: waiting for the worker',
  'job.running': (p: { image?: number; count: number; step: number; total: number; bar: string; percent: number }) =>
    `🎨 ${p.count > 1 ? `image ${p.image}/${p.count} · ` : ''}step ${p.step}/${p.total} \`${p.bar}\` ${p.percent}%`,
  'job.parameters': (p: {
    seeds: string;
    many: boolean;
    width: number;
    height: number;
    steps: number;
    cfg: number;
    sampler: string;
    model: string;
  }) => `${p.many ? 'Seeds' : 'Seed'} \`${p.seeds}\` · ${p.width}x${p.height} · ${p.steps} steps · cfg ${p.cfg} · ${p.sampler} · ${p.model}`,
  'job.negative': (p: { text: string }) => `-# Negative: ${p.text}`,
  'job.controlUnit': (p: { net: string; preprocess: string; strength: number }) =>
    `-# 🎛 ControlNet \`${p.net}\` · ${p.preprocess} · strength ${p.strength}`,
  'job.translatedNegative': (p: { text: string }) => `-# 🌐 Negative: ${p.text}`,
  'job.failed': (p: { why: string }) => `❌ ${p.why}`,
  'job.cancelled': '✖️ Cancelled.',
  'job.cancelledBy': (p: { user: string }) => `✖️ Cancelled by <@${p.user}>.`,
  'job.button.cancel': 'Cancel',
  'job.button.zoom2': 'Zoom Out 2x',
  'job.button.zoom15': 'Zoom Out 1.5x',
  'job.button.subtle': 'Vary (Subtle)',
  'job.button.strong': 'Vary (Strong)',
  'job.button.region': 'Vary (Region)',
  'job.button.useAsControl': 'Use as control',
  'job.kind.img2img': (p: { strength: number }) => ` · 🖼️ from a picture (strength ${p.strength})`,
  'job.kind.reroll': ' · 🔄 reroll',
  'job.kind.variation': ' · variation',
  'job.kind.upscale': ' · upscale 2x',
  'job.kind.refine': ' · ✏️ refined',
  'job.kind.inpaint': (p: { strength: number }) => ` · 🖌️ inpaint (strength ${p.strength})`,
  'job.kind.editWhole': (p: { strength: string }) => ` · 🖌️ edit, whole picture (strength ${p.strength})`,
  'job.kind.zoom': (p: { zoom: string }) => ` · 🔍 zoom out ${p.zoom}x`,
  'job.kind.pan': (p: { arrow: string; direction: Pan }) => ` · ${p.arrow} pan ${PAN[p.direction]}`,
  'job.kind.panPlain': ' · pan',
  'job.kind.varySubtle': ' · vary (subtle)',
  'job.kind.varyStrong': ' · vary (strong)',
  'job.kind.varyRegion': ' · vary (region)',
  'job.kind.control': ' · 🎛 from a control image',
  'job.note.ratio': (p: { label: string; width: number; height: number; sdxl: boolean }) =>
    `${p.label} → ${p.width}x${p.height}${p.sdxl ? ' (SDXL bucket)' : ''}`,
  'job.note.fixedSize': (p: { model: string; width: number; height: number; askedWidth: number; askedHeight: number }) =>
    `${p.model} draws ${p.width}x${p.height} only; used that instead of ${p.askedWidth}x${p.askedHeight}`,
  'job.note.refineReplace': (p: { original: string; seed?: number }) =>
    `✏️ new prompt (--replace) instead of "${p.original}"${p.seed === undefined ? '' : `, same seed ${p.seed}`}`,
  'job.note.refineSettings': (p: { original: string; seed?: number }) =>
    `✏️ "${p.original}" with new settings${p.seed === undefined ? '' : `, same seed ${p.seed}`}`,
  'job.note.refineAdd': (p: { original: string; addition: string; seed?: number }) =>
    `✏️ "${p.original}" + "${p.addition}"${p.seed === undefined ? '' : `, same seed ${p.seed}`}`,
  'job.warning.translatorMissing': (p: { model: string }) =>
    `Model "${p.model}" reads English only, so the Chinese in your prompt has little effect. The bot's operator can install the translator with: npm run models:pull -- opus-mt-zh-en (docs/translation.md).`,
  'job.warning.unknownWords': (p: { model: string; words: string }) =>
    `The model "${p.model}" does not know these words, so they had no effect: ${p.words}.`,
  'job.warning.lanczosOnly': (p: { width: number; height: number }) =>
    `Upscaled with Lanczos only: ${p.width}x${p.height} is beyond what this model can refine.`,
  'job.fail.modelLoad': (p: { model: string; ref: string }) =>
    `The model \`${p.model}\` could not be loaded (a file of it is missing or broken), so it is set aside until the bot owner fixes it (ref \`${p.ref}\`). Pick another model.`,
  'job.fail.workerCrashed':
    'The image worker crashed (or went away) on every try while making this image, so it was stopped. A smaller size, fewer images or fewer steps may fit in memory; if it keeps happening, ask the bot owner to check the workers.',
  'job.fail.watchdog': (p: { seconds: number }) => `This image took far longer than expected (over ${p.seconds} s), so it was stopped.`,
  'job.fail.resultNotStored':
    'The image was made, but the bot could not save it (its disk may be full). Try again later; if it keeps happening tell the bot owner.',

  // ---- queue and job refusals ----
  'error.restarting': 'The bot is restarting; try again in a minute.',
  'error.userQueueFull': (p: { max: number }) =>
    `You already have ${images(p.max)} queued or running here, the most this server allows per member. Wait for one to finish or cancel one.`,
  'error.guildQueueFull': (p: { max: number }) =>
    `This server already has ${images(p.max)} queued or running, the most it allows. Try again when some have finished.`,
  'error.totalQueueFull': (p: { max: number }) => `The bot's queue is full (${p.max} images across all servers). Try again in a few minutes.`,
  'error.jobNotStored':
    'The bot could not save your job (its disk may be full); nothing was queued. Try again later; if it keeps happening tell the bot owner.',
  'error.alreadyFinal': (p: { state: 'done' | 'failed' | 'cancelled' | 'queued' | 'running' }) => `That image is already ${STATE[p.state]}.`,
  'error.noSuchJob': 'There is no such image job.',
  'error.cancelNotAllowed': 'Only the member who asked for this image, or someone with Manage Server, can cancel it.',
  'error.inputGone': 'An image this job starts from is no longer stored on the bot. Run /imagine again.',
  'error.controlGone': 'A control image this job uses is no longer stored on the bot. Run /imagine again.',
  'error.cooldown': (p: { cooldown: number; seconds: number }) =>
    `This server has a ${p.cooldown} s cooldown between images; try again in ${p.seconds} s.`,
  'error.channel': (p: { channels: string }) => `Images can't be made in this channel. Use ${p.channels}.`,

  // ---- option and prompt checks ----
  'error.promptEmpty': 'The prompt is empty: describe the image before the flags, e.g. `a lighthouse at dusk --ar 16:9`.',
  'error.promptChars': (p: { length: number; max: number }) => `The prompt has ${p.length} characters; shorten it to ${p.max} or fewer.`,
  'error.negativeChars': (p: { length: number; max: number }) => `The negative prompt has ${p.length} characters; shorten it to ${p.max} or fewer.`,
  'error.promptTokens': (p: { part: PromptPart; tokens: number; chunks: number; size: number; limit: number; over: number }) =>
    `The ${PART[p.part]} is at least ${p.tokens} tokens and the most is ${p.chunks} chunks of ${p.size} (${p.limit} tokens); remove about ${p.over} words or symbols.`,
  'error.banned': (p: { word: string }) => `This server does not allow \`${p.word}\` in prompts; remove it and try again.`,
  'error.bannedNegative': (p: { word: string }) =>
    `This server does not allow \`${p.word}\` in prompts; remove it from the negative prompt and try again.`,
  'error.noModel': 'No model is installed yet; ask the bot owner to add one under MODELS_DIR.',
  'error.unknownModel': (p: { model: string; models: string; chosenBy?: 'server' | 'bot' }) =>
    `Unknown model \`${p.model}\`${p.chosenBy === 'server' ? " (this server's default)" : p.chosenBy === 'bot' ? " (the bot's default)" : ''}; choose one of: ${p.models || 'none installed'}.`,
  'error.brokenModel': (p: { model: string; models: string; chosenBy?: 'server' | 'bot' }) =>
    `The model \`${p.model}\`${p.chosenBy === 'server' ? " (this server's default)" : p.chosenBy === 'bot' ? " (the bot's default)" : ''} could not be loaded and is set aside until the bot owner fixes it; choose one of: ${p.models || 'none installed'}.`,
  'error.modelPath': (p: { models: string; chosenBy?: 'server' | 'bot' }) =>
    `Name an installed model, not a folder path${p.chosenBy === 'server' ? " (this server's default)" : p.chosenBy === 'bot' ? " (the bot's default)" : ''}; choose one of: ${p.models || 'none installed'}.`,
  'error.modelGone': (p: { model: string; models: string }) =>
    `The model \`${p.model}\` of this image is no longer installed; run /imagine with another model; choose one of: ${p.models || 'none installed'}.`,
  'error.notWhole': (p: { field: Field; via: Via; min: number; max: number; raw: string }) =>
    `${fieldName(p.field, p.via)} must be a whole number from ${p.min} to ${p.max}, got \`${p.raw}\`.`,
  'error.notNumber': (p: { field: Field; via: Via; min: number; max: number; raw: string }) =>
    `${fieldName(p.field, p.via)} must be a number from ${p.min} to ${p.max}, got \`${p.raw}\`.`,
  'error.outOfRange': (p: { field: Field; via: Via; value: number; min: number; max: number; lowered?: boolean }) =>
    `${fieldName(p.field, p.via)} is ${p.value}; use ${p.min} to ${p.max}${why(p.lowered === true, p.field === 'count' ? 'max count' : 'max steps')}.`,
  'error.setTwice': (p: { what: Field | 'model' | 'sampler' | 'control' | 'preprocess' }) =>
    `${p.what === 'model' ? 'The model' : p.what === 'sampler' ? 'The sampler' : p.what === 'control' ? 'The ControlNet' : p.what === 'preprocess' ? 'The preprocessor' : fieldName(p.what, 'both')} is set twice, as an option and as a prompt flag, with different values; keep one.`,
  'error.unknownSampler': (p: { sampler: string; samplers: string }) => `Unknown sampler \`${p.sampler}\`; use one of: ${p.samplers}.`,
  'error.sizeTwice': 'The size is set more than once (size option, `--size`, `--ar`); keep one.',
  'error.sizeNotAllowed': (p: { width: number; height: number; multiple: number; min: number; max: number; suggestion: string }) =>
    `Size ${p.width}x${p.height} is not allowed: each side must be a multiple of ${p.multiple} from ${p.min} to ${p.max}. Try ${p.suggestion}.`,
  'error.fixedSizeTooBig': (p: { model: string; width: number; height: number; pixels: number; max: number }) =>
    `\`${p.model}\` draws ${p.width}x${p.height} (${p.pixels} pixels) only, over this server's max pixels (${p.max}). Ask an admin to raise it in /config limits, or pick another model.`,
  'error.tooManyPixels': (p: { width: number; height: number; pixels: number; max: number; suggestion: string }) =>
    `${p.width}x${p.height} is ${p.pixels} pixels; this server allows ${p.max} per image. Try ${p.suggestion} or a ratio such as 16:9.`,
  'error.ratioRange': (p: { raw: string }) => `Aspect ratio \`${p.raw}\` is out of range; use a ratio between 1:4 and 4:1, e.g. 16:9.`,
  'error.sizeUnknown': (p: { raw: string; presets: string }) =>
    `Size \`${p.raw}\` is not one I understand. Use a ratio such as 16:9, a preset (${p.presets}) or WxH such as 512x768.`,
  'error.flagSpacing': (p: { word: string; flags: string }) =>
    `\`${p.word}\` is not a flag I know. Flags: ${p.flags}. Put a space between a flag and its value.`,
  'error.unknownFlag': (p: { word: string; flags: string }) => `Unknown flag \`${p.word}\`. Remove it or use one of: ${p.flags}.`,
  'error.noWords': '`--no` needs the words to avoid after it, e.g. `--no text, watermark`.',
  'error.flagValue': (p: { flag: string; example: string }) => `\`--${p.flag}\` needs a value after it, e.g. \`${p.example}\`.`,
  'error.flagTwice': (p: { flag: string }) => `\`--${p.flag}\` is given twice; keep one.`,
  'control.needsImage':
    'A ControlNet needs a control image: add one with the `control_image` option (or press 🎛 under a result), or leave out `control`, `control_strength`, `preprocess` and their flags.',
  'control.unknownPreprocessor': (p: { got: string; choices: string }) => `The preprocessor must be one of ${p.choices}; got \`${p.got}\`.`,
  'control.noNets': (p: { model: string; others: string }) =>
    `The model \`${p.model}\` has no ControlNets, so it can't use a control image.${
      p.others
        ? ` Choose one that has: ${p.others}.`
        : ' No installed model has one; ask the bot owner to add a ControlNet-ready model (README "ControlNet").'
    }`,
  'control.unknownNet': (p: { net: string; model: string; nets: string }) =>
    `Unknown ControlNet \`${p.net}\` for the model \`${p.model}\`; available: ${p.nets}.`,
  'control.depthMissing':
    'The "depth" preprocessor is not installed on this bot: ask its owner to run `npm run models:pull -- depth-anything-v2-small`, or send a ready depth map with preprocess `none`.',
  'control.chooseNet': (p: { model: string; nets: string }) =>
    `The model \`${p.model}\` has several ControlNets; choose one with the \`control\` option or \`--control NAME\`: ${p.nets}.`,
  'control.cannyOnly': (p: { preprocess: string }) =>
    `\`--canny-low\` and \`--canny-high\` set the edge thresholds of preprocess canny; this job uses ${p.preprocess}. Add \`--preprocess canny\` or leave them out.`,
  'control.cannyOrder': (p: { low: number; high: number }) =>
    `The Canny low threshold (${p.low}) must not be above the high one (${p.high}); swap them or change one.`,
  'control.mapAsIs': 'the control image is used as the map as it is (preprocess none); for a photo add `--preprocess canny` or `depth`',
  'control.buttonNoNets': (p: { model: string }) =>
    `The model \`${p.model}\` has no ControlNets, so its images can't guide a new one. Use a model that has some.`,
  'control.netGone': (p: { net: string; model: string }) =>
    `The ControlNet \`${p.net}\` of this image is no longer installed for \`${p.model}\`; run /imagine with another control.`,
  'error.strengthWithoutImage': '`strength` says how much of an uploaded picture changes; add one with the `image` option, or leave strength out.',
  'error.loraWeight': (p: { tag: string }) => `A LoRA weight must be a number, as in \`<lora:name:0.8>\`; got \`${p.tag}\`.`,
  'error.loraCount': (p: { max: number; count: number }) => `A prompt may use ${p.max} LoRAs at most; it names ${p.count}.`,
  'error.lorasOff': (p: { name: string }) => `This server does not allow LoRAs; remove \`<lora:${p.name}…>\` from the prompt.`,
  'error.loraNotAllowed': (p: { name: string; allowed: string }) =>
    `This server does not allow the LoRA \`${p.name}\`; allowed here: ${p.allowed || 'none'}.`,
  'error.loraUnknown': (p: { name: string; available: string }) =>
    `Unknown LoRA \`${p.name}\`; available: ${p.available || 'none installed'} (see /help loras).`,

  // ---- buttons on stored jobs ----
  'error.noLongerStored': (p: { what: 'source' | 'image' | 'imageN'; n?: number }) =>
    `${p.what === 'source' ? 'A picture this image was made from' : p.what === 'imageN' ? `Image ${p.n} of that job` : 'That image'} is no longer stored on the bot, so this button can't use it. Run /imagine again.`,
  'error.otherServer': 'That image belongs to another server.',
  'error.notFinished': 'That job has no finished image to work from.',
  'error.alreadyQueued': (p: { link?: string; position?: number; running?: boolean }) =>
    `That is already queued: ${p.link ?? (p.position !== undefined ? `#${p.position} in line` : p.running ? 'it is running now' : 'it is being queued now')}. Wait for it, or use another button.`,
  'error.upscaleTooBig': (p: { width: number; height: number; pixels: number; max: number }) =>
    `Upscaling makes ${p.width}x${p.height} (${p.pixels} pixels); this server allows ${p.max} per image. Ask an admin to raise max pixels in /config limits.`,
  'error.storedBanned': (p: { word: string; part: PromptPart }) =>
    `This server does not allow \`${p.word}\` in prompts, and this image's ${PART[p.part]} has it; run /imagine with a new ${PART[p.part]}.`,
  'error.storedSteps': (p: { steps: number; max: number }) =>
    `This image used ${p.steps} steps; this server now allows ${p.max} (an admin lowered max steps in /config limits). Run /imagine with ${p.max} steps or fewer.`,
  'error.storedCount': (p: { count: number; max: number }) =>
    `This job made ${p.count} images; this server now allows ${p.max} per job (an admin lowered max count in /config limits). Use V or U on one image, or run /imagine with a count of ${p.max} or fewer.`,
  'error.storedPixels': (p: { width: number; height: number; pixels: number; max: number }) =>
    `This image is ${p.width}x${p.height} (${p.pixels} pixels); this server now allows ${p.max} per image (an admin lowered max pixels in /config limits). Run /imagine with a smaller size.`,
  'error.storedNoEncoder': (p: { model: string }) =>
    `The model \`${p.model}\` has no vae_encoder, so it can't vary an upscaled or img2img image. Use 🔄, or V on an image made from text.`,
  'error.singleImageOnly': 'These buttons work on a single image. Press U under the one you want first, then use them on it.',
  'error.fixedSizePan': (p: { model: string }) =>
    `The model \`${p.model}\` only draws one size, so it cannot pan (the picture grows). Use Zoom Out instead.`,
  'error.panTooBig': (p: { direction: Pan; width: number; height: number; pixels: number; max: number; bySide: boolean }) =>
    `Panning ${PAN[p.direction]} makes the picture ${p.width}x${p.height} (${p.pixels} pixels); ${p.bySide ? `the most is ${p.max} a side` : `this server allows ${p.max} per image`}. Use Zoom Out instead, or ask an admin to raise max pixels in /config limits.`,
  'error.regionName': (p: { regions: string }) => `Name a region (${p.regions}) or give a box as x,y,w,h in percent, such as 25,25,50,50.`,
  'error.regionBox': 'Give the box as x,y,w,h in percent of the picture, such as 25,25,50,50 (x and y from the top left).',
  'error.regionEmpty':
    'The box is empty: width and height must be at least 1%. Give the box as x,y,w,h in percent of the picture, such as 25,25,50,50 (x and y from the top left).',
  'error.regionEdge':
    "The box goes past the picture's edge (x + w and y + h must be at most 100). Give the box as x,y,w,h in percent of the picture, such as 25,25,50,50 (x and y from the top left).",
  'modal.region.title': 'Vary (Region)',
  'modal.region.label': 'Region to redraw',
  'modal.region.placeholder': 'left, right, top, bottom, centre, or x,y,w,h in % (25,25,50,50)',

  // ---- uploads ----
  'error.noEncoder': (p: { model: string; doing: Doing; others: string }) =>
    `The model \`${p.model}\` has no vae_encoder, so it can't ${DOING[p.doing]}.${p.others ? ` Choose one that can: ${p.others}.` : ' No installed model can; ask the bot owner for one with a vae_encoder.'}`,
  'error.uploadType': (p: { what: Upload; name: string; type: string }) =>
    `The ${UPLOAD[p.what]} must be a PNG, JPEG or WebP picture; \`${p.name}\` is ${p.type}.`,
  'error.uploadSize': (p: { what: Upload; size: string; max: string }) =>
    `The ${UPLOAD[p.what]} is ${p.size}; this server takes pictures up to ${p.max}. Upload a smaller file (or ask an admin: /config limits max_upload_mib).`,
  'error.uploadPixels': (p: { what: Upload; width: number; height: number; max: number }) =>
    `The ${UPLOAD[p.what]} is ${p.width}x${p.height}; the bot takes pictures up to ${p.max} pixels (4096x4096). Scale it down and upload it again.`,
  'error.uploadUnreachable': (p: { what: Upload }) => `The bot could not download the ${UPLOAD[p.what]} from Discord. Upload it again.`,
  'error.uploadTimeout': (p: { what: Upload; seconds: number }) =>
    `Downloading the ${UPLOAD[p.what]} took over ${p.seconds} s. Upload it again, or a smaller file.`,
  'error.uploadTooBig': (p: { what: Upload; max: string }) =>
    `The ${UPLOAD[p.what]} is over ${p.max}, the most this server takes. Upload a smaller file.`,
  'error.uploadNotImage': (p: { what: Upload }) => `The ${UPLOAD[p.what]} is not a PNG, JPEG or WebP picture. Upload one of those.`,
  'error.uploadDamaged': (p: { what: Upload; format: string }) =>
    `The ${UPLOAD[p.what]} looks like a ${p.format} but could not be read; it may be damaged. Upload it again.`,
  'error.uploadNoSize': (p: { what: Upload }) => `The ${UPLOAD[p.what]} has no size in its header; it may be damaged. Upload it again.`,
  'error.maskEmpty': 'The mask is empty (all black): nothing to repaint. Paint white where the picture should change, and upload it again.',

  // ---- "Imagine this" and replies to results ----
  'imagineThis.ownImage': 'That is one of my images. To change it, reply to it and mention me (`@bot make it blue`); to redo it, use its buttons.',
  'imagineThis.noText': 'That message has no text to draw from. Use "Imagine this" on a message that describes an image, or run /imagine.',
  'imagineThis.queued': 'Queued: the image will appear as a reply to that message.',
  'refine.notFinished': 'That image is not finished yet; reply to it again once it is.',
  'refine.notMade': 'That image was not made, so there is nothing to change; reply to a finished image, or run /imagine.',
  'refine.emptyReplace': 'Write the new prompt after `--replace`, e.g. `@bot a lighthouse at dusk --replace`.',
  'refine.empty': 'Write what to change after the mention, e.g. `@bot make it blue, at night` (or add `--replace` to use your words alone).',

  // ---- /queue ----
  'queue.empty': 'The queue is empty. Start one with /imagine.',
  'queue.running': '▶️ running',
  'queue.runningOn': (p: { worker: string }) => `▶️ running on \`${p.worker}\``,
  'queue.doneIn': (p: { eta: string }) => ` · done in ${p.eta}`,
  'queue.startsIn': (p: { eta: string }) => ` · starts in ${p.eta}`,
  'queue.none': 'You have no images waiting here.',
  'queue.yours': (p: { list: string }) => `Yours: ${p.list}`,
  'queue.yoursRunning': 'running',
  'queue.more': (p: { count: number }) => `…and ${p.count} more.`,
  'queue.noWorkers':
    "⚠️ No image worker runs on this bot (WORKERS=0), so images wait here and none will start. The bot's operator can set WORKERS=1 (or EXECUTION_DEVICE_IDS) and restart it.",
  'queue.workers': (p: { list: string }) => `Workers: ${p.list}`,
  'queue.workerOn': (p: { host: string }) => ` on \`${p.host}\``,
  'queue.state.busy': 'busy',
  'queue.state.idle': 'idle',
  'queue.state.starting': 'starting',

  // ---- /help ----
  'help.text': [
    '**/imagine** `prompt` makes an image. Options: negative, size (16:9, portrait, 512x768…), steps, cfg, sampler, seed, count (1–4, a grid), model, clip_skip; `image` + `strength` start from your picture.',
    '**/edit** `image` `mask` `prompt` repaints the white part of the mask (strength, mask_blur, only_masked).',
    'Flags work in the prompt too: `a lighthouse at dusk --ar 16:9 --seed 42 --no text --steps 25 --cfg 7 --count 4`.',
    'AUTOMATIC1111 syntax: `(word:1.3)` stronger, `[word]` weaker, `\\(` a real bracket, `BREAK` starts a new 75-token chunk (8 at most); `--clip-skip 2`.',
    "While it waits you see its place in line; while it runs, a live preview. ✖️ cancels (yours, or anyone's with Manage Server).",
    'Under a result: 🔄 new seed, **V1–V4** variations, **U1–U4** 2x upscale; a single image also has Zoom Out, pan ⬅️➡️⬆️⬇️ and Vary (Subtle/Strong/Region). Anyone may press them; the new job is theirs.',
    'Right-click a message → **Apps → Imagine this** draws its text. Reply to a result and mention the bot (`@bot make it blue`) to refine it, same seed; `--replace` uses your words alone.',
    'ControlNet: `control_image` guides the layout (`preprocess` canny/depth for a photo; `control`, `control_strength`); **🎛 Use as control** reuses a result.',
    'Chinese prompts are translated for English-only models (🌐 shows the translation); /config translate turns it off.',
    'LoRAs: `<lora:name:0.8>` in the prompt (3 at most); **/help topic:loras** lists them and their trigger words.',
    "**/queue** shows this server's queue. **/config** (Manage Server) sets defaults, limits, channels, banned words, previews, LoRAs and the language.",
  ].join('\n'),
  'help.noWorkers':
    "_Status: no image worker runs on this bot (WORKERS=0), so images wait in the queue. The bot's operator can set WORKERS=1 (or EXECUTION_DEVICE_IDS) and restart it._",
  'help.starting': '_Status: the image worker is starting._',
  'help.startingMany': (p: { count: number }) => `_Status: the ${p.count} workers are starting._`,
  'help.status': (p: { provider: string; count: number; ready?: number; models: string }) =>
    `_Status: images run on **${p.provider}** with ${p.count === 1 ? '1 worker' : `${p.count} workers`}${p.ready === undefined ? '' : `, ${p.ready} ready, the others starting`}; models: ${p.models || 'none installed'}._`,
  'help.defaultModel': (p: { model: string }) => `${p.model} (default)`,
  'help.lorasNone': "No LoRA is installed. The bot's operator puts `<name>.safetensors` files in LORAS_DIR.",
  'help.lorasNoneAllowed': 'This server allows none of the installed LoRAs (an admin sets them with /config loras).',
  'help.lorasTitle': '**LoRAs** — add `<lora:name:0.8>` to a prompt (weight 1 when left out); trigger words call up their subject or style:',
  'help.moreModels': (p: { count: number }) => `+${p.count} more`,
  'help.more': (p: { count: number }) => `…and ${p.count} more.`,

  // ---- /config ----
  'config.guildOnly': 'Use /config inside a server.',
  'config.needManageServer': 'You need the Manage Server permission to change /config.',
  'config.notSaved': (p: { issues: string }) => `Not saved: ${p.issues}`,
  'config.reset': 'Settings reset.',
  'config.saved.defaults': 'Defaults saved.',
  'config.saved.limits': 'Limits saved.',
  'config.saved.channels': 'Channels saved.',
  'config.saved.bannedWords': 'Banned words saved.',
  'config.saved.preview': 'Preview settings saved.',
  'config.saved.translateOn': 'Chinese prompts will be translated.',
  'config.saved.translateOff': 'Prompts will be used as typed.',
  'config.saved.loras': 'LoRA settings saved.',
  'config.saved.loraList': 'LoRA list saved.',
  'config.saved.language': (p: { language: string }) => `Job messages will be in ${p.language}.`,
  'config.error.unknownAction': (p: { action: string; actions: string }) => `Unknown action \`${p.action}\`; use ${p.actions}.`,
  'config.error.nameWhat': (p: { what: 'channel' | 'words' | 'loras'; action: 'add' | 'remove' }) =>
    `Name the ${p.what === 'loras' ? 'LoRAs' : p.what === 'words' ? 'words' : 'channel'} to ${p.action === 'add' ? 'add' : 'remove'}.`,
  'config.error.unknownDefault': (p: { unset: string; defaults: string }) => `Unknown default \`${p.unset}\` to unset; use one of: ${p.defaults}.`,
  'config.error.unknownModel': (p: { model: string; models: string }) =>
    `Unknown model \`${p.model}\`; choose one of: ${p.models || 'none installed'}.`,
  'config.error.otherServerChannel': 'That channel is not in this server; pick one from the list Discord offers.',
  'config.error.notTextChannel': (p: { channel: string }) => `Pick a text channel or thread; <#${p.channel}> is not one.`,
  'config.error.unknownLora': (p: { names: string; installed: string }) => `Unknown LoRA ${p.names}; installed: ${p.installed || 'none'}.`,
  'config.error.unknownLanguage': (p: { language: string; languages: string }) => `Unknown language \`${p.language}\`; use ${p.languages}.`,
  'config.error.unknownSubcommand': (p: { sub: string; subs: string }) => `Unknown subcommand \`${p.sub}\`; use ${p.subs}.`,
  'config.issue.sizeTogether': 'Set the default width and height together.',
  'config.issue.sizeOverMax': (p: { width: number; height: number; max: number }) =>
    `The default size ${p.width}x${p.height} is over the max pixels limit (${p.max}); lower the size or raise max pixels.`,
  'config.issue.stepsOverMax': (p: { steps: number; max: number }) =>
    `The default steps (${p.steps}) are over max steps (${p.max}); lower one or raise the other.`,
  'config.issue.countOverMax': (p: { count: number; max: number }) =>
    `The default count (${p.count}) is over max count (${p.max}); lower one or raise the other.`,
  'config.or': (p: { list: string; last: string }) => `${p.list} or ${p.last}`,
  'config.show.defaultsTitle': "**Defaults** (unset = the model's own)",
  'config.show.unset': "model's default",
  'config.show.none': '(none)',
  'config.show.defaults1': (p: { model: string; steps: string; cfg: string; sampler: string }) =>
    `model: ${p.model} · steps: ${p.steps} · cfg: ${p.cfg} · sampler: ${p.sampler}`,
  'config.show.defaults2': (p: { size: string; count: number; negative: string }) => `size: ${p.size} · count: ${p.count} · negative: ${p.negative}`,
  'config.show.limitsTitle': '**Limits**',
  'config.show.limits1': (p: { maxSteps: number; maxPixels: number; maxCount: number }) =>
    `max steps: ${p.maxSteps} · max pixels: ${p.maxPixels} · max count: ${p.maxCount}`,
  'config.show.limits2': (p: { userQueued: number; cooldown: number; guildQueued: number; uploadMib: number }) =>
    `per member: ${p.userQueued} queued · cooldown: ${p.cooldown} s · per server: ${p.guildQueued} queued · uploads: up to ${p.uploadMib} MiB`,
  'config.show.channels': (p: { channels?: string }) => `**Channels**: ${p.channels ?? 'all'}`,
  'config.show.bannedWords': (p: { words?: string }) => `**Banned words**: ${p.words ?? '(none)'}`,
  'config.show.preview': (p: { every?: number }) => `**Previews**: ${p.every === undefined ? 'off' : `on, every ${p.every} steps`}`,
  'config.show.translate': (p: { on: boolean }) => `**Translate Chinese prompts**: ${p.on ? 'on' : 'off'}`,
  'config.show.loras': (p: { mode: 'all' | 'none' | 'list'; list: string }) =>
    `**LoRAs**: ${p.mode === 'all' ? 'all installed' : p.mode === 'none' ? 'none' : p.list || '(empty list: none)'}`,
  'config.show.language': (p: { auto: boolean; effective: string }) =>
    `**Job message language**: ${p.auto ? `auto (now ${p.effective})` : p.effective}`,
  /** This locale's name in its own language: the /config language choice and what /config show names. */
  'locale.name': 'English',
};

export type Catalogue = typeof en;
