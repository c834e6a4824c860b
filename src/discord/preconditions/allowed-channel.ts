import { Identifiers, UserError } from '../../errors.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import { err, ok, type Result } from '../result.js';

/** /imagine and the image buttons run only in the guild's allowed channels (all, when none are listed). */
export function checkAllowedChannel(settings: GuildSettings, channelId: string): Result<void, UserError> {
  const allowed = settings.allowedChannels;
  if (allowed.length === 0 || allowed.includes(channelId)) return ok(undefined);
  const list = allowed.map((id) => `<#${id}>`).join(', ');
  return err(new UserError(Identifiers.NotAllowed, `Images can't be made in this channel. Use ${list}.`, { channelId }));
}
