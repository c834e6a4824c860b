/**
 * `<lora:name:weight>` tags checked before a job is queued: a weight that is no number, a LoRA that is not
 * installed (the bot reads LORAS_DIR itself: model-folder/lora-catalog.ts), or one this server does not allow
 * (`/config loras`) is refused at once, ephemerally, instead of failing in the worker minutes later.
 */
import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import { invalidLoraTags, parseLoraTags } from '../../protocol/lora-tags.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';

/** Each set costs a merge and a second copy of the UNet in the worker (docs/loras.md); A1111 users rarely need more. */
export const MAX_LORAS_PER_JOB = 3;

const shown = (name: string) => name.replace(/[`\r\n]/g, '').slice(0, 100);

export function loraAllowed(settings: GuildSettings, name: string): boolean {
  const { mode, allowed } = settings.loras;
  return mode === 'all' || (mode === 'list' && allowed.some((a) => a.toLowerCase() === name.toLowerCase()));
}

/** The server's allow list only: for stored requests (buttons), whose LoRAs were installed when the job ran. */
export function checkLorasAllowed(prompt: string, settings: GuildSettings): Result<void, UserError> {
  for (const tag of parseLoraTags(prompt)) {
    if (settings.loras.mode === 'none') return err(userError(Identifiers.NotAllowed, text('error.lorasOff', { name: shown(tag.name) })));
    if (!loraAllowed(settings, tag.name)) {
      const list = settings.loras.allowed.map((n) => `\`${shown(n)}\``).join(', ');
      return err(userError(Identifiers.NotAllowed, text('error.loraNotAllowed', { name: shown(tag.name), allowed: list }), { lora: tag.name }));
    }
  }
  return ok(undefined);
}

/** Weights, the installed LoRAs and the allow list, for a prompt a user just typed. */
export function checkLoraTags(prompt: string, settings: GuildSettings, installed: readonly { name: string }[] | undefined): Result<void, UserError> {
  const bad = invalidLoraTags(prompt);
  if (bad.length) return err(invalid(text('error.loraWeight', { tag: shown(bad[0]) })));
  const tags = parseLoraTags(prompt);
  if (tags.length > MAX_LORAS_PER_JOB) return err(invalid(text('error.loraCount', { max: MAX_LORAS_PER_JOB, count: tags.length })));
  const allowed = checkLorasAllowed(prompt, settings);
  if (!allowed.ok) return allowed;
  // Without the list (a caller that has none) the worker still refuses an unknown LoRA, naming the installed ones.
  for (const tag of installed ? tags : []) {
    if (!installed!.some((l) => l.name.toLowerCase() === tag.name.toLowerCase())) {
      const names = installed!
        .filter((l) => loraAllowed(settings, l.name))
        .map((l) => `\`${l.name}\``)
        .join(', ');
      return err(userError(Identifiers.NotFound, text('error.loraUnknown', { name: shown(tag.name), available: names }), { lora: tag.name }));
    }
  }
  return ok(undefined);
}
