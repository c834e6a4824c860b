import type { ButtonInteraction, ModalSubmitInteraction } from 'discord.js';

/** A button feature: claims the custom ids its codec decodes. */
export interface ComponentHandler {
  /** True when `customId` belongs to this feature. */
  matches(customId: string): boolean;
  handle(interaction: ButtonInteraction): Promise<void>;
  /** A submitted modal whose custom id `matchesModal` claims (a button that asks for more than a click). */
  matchesModal?(customId: string): boolean;
  handleModal?(interaction: ModalSubmitInteraction): Promise<void>;
}
