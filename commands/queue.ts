import { InteractionContextType, SlashCommandBuilder } from 'discord.js';

export const data = new SlashCommandBuilder()
  .setName('queue')
  .setDescription("Show this server's image queue and your own jobs")
  .setContexts(InteractionContextType.Guild);
