import { ApplicationCommandType, ContextMenuCommandBuilder, InteractionContextType } from 'discord.js';
import { localized } from './localize.js';

/** The message command's name, shared by the definition and the handler. Shown under Apps when right-clicking a message. */
export const IMAGINE_THIS = 'Imagine this';

// Guild-only, as /imagine: settings, limits and the fair queue are per guild.
export const data = new ContextMenuCommandBuilder()
  .setName(IMAGINE_THIS)
  // A message command's name may have spaces and capitals; Discord shows the member's language under Apps.
  .setNameLocalizations(localized('cmd.imagine_this.name'))
  .setType(ApplicationCommandType.Message)
  .setContexts(InteractionContextType.Guild);
