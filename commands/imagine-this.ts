import { ApplicationCommandType, ContextMenuCommandBuilder, InteractionContextType } from 'discord.js';

/** The message command's name, shared by the definition and the handler. Shown under Apps when right-clicking a message. */
export const IMAGINE_THIS = 'Imagine this';

// Guild-only, as /imagine: settings, limits and the fair queue are per guild.
export const data = new ContextMenuCommandBuilder()
  .setName(IMAGINE_THIS)
  .setType(ApplicationCommandType.Message)
  .setContexts(InteractionContextType.Guild);
