import type { ButtonInteraction } from 'discord.js';

/** A button feature: claims the custom ids its codec decodes. */
export interface ComponentHandler {
  /** True when `customId` belongs to this feature. */
  matches(customId: string): boolean;
  handle(interaction: ButtonInteraction): Promise<void>;
}
