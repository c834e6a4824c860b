import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import { err, ok, type Result } from '../result.js';

/**
 * Per-member cooldown between jobs, per guild. In memory on purpose: a restart forgiving a cooldown of seconds to
 * minutes costs nothing, and it keeps the check off the store on the hot path.
 */
export class CooldownTracker {
  readonly #last = new Map<string, number>();

  constructor(readonly now: () => number = Date.now) {}

  check(guildId: string, userId: string, cooldownSeconds: number): Result<void, UserError> {
    if (cooldownSeconds <= 0) return ok(undefined);
    const last = this.#last.get(`${guildId}:${userId}`);
    if (last === undefined) return ok(undefined);
    const waitMs = last + cooldownSeconds * 1000 - this.now();
    if (waitMs <= 0) return ok(undefined);
    const seconds = Math.ceil(waitMs / 1000);
    return err(userError(Identifiers.Cooldown, text('error.cooldown', { cooldown: cooldownSeconds, seconds }), { seconds }));
  }

  record(guildId: string, userId: string): void {
    this.#last.set(`${guildId}:${userId}`, this.now());
    // Bounded: entries older than an hour (the longest cooldown) can go.
    if (this.#last.size > 10_000) {
      const cutoff = this.now() - 3_600_000;
      for (const [key, at] of this.#last) if (at < cutoff) this.#last.delete(key);
    }
  }
}
