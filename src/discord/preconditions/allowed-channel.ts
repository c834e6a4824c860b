import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import { err, ok, type Result } from '../result.js';

/** /imagine and the image buttons run only in the guild's allowed channels (all, when none are listed). */
export function checkAllowedChannel(settings: GuildSettings, channelId: string): Result<void, UserError> {
  const allowed = settings.allowedChannels;
  if (allowed.length === 0 || allowed.includes(channelId)) return ok(undefined);
  const list = allowed.map((id) => `<#${id}>`).join(', ');
  return err(userError(Identifiers.NotAllowed, text('error.channel', { channels: list }), { channelId }));
}
