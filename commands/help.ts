import { SlashCommandBuilder } from 'discord.js';

/** `/help topic:loras` lists the LoRAs this server may use, with their trigger words. */
export const HELP_TOPICS = ['loras'] as const;

export const data = new SlashCommandBuilder()
  .setName('help')
  .setDescription('How to use the image bot')
  .addStringOption((o) =>
    o
      .setName('topic')
      .setDescription('More on one topic')
      .addChoices(...HELP_TOPICS.map((name) => ({ name, value: name }))),
  );
