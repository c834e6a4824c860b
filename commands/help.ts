import { SlashCommandBuilder } from 'discord.js';
import { choice, named } from './localize.js';

/** `/help topic:loras` lists the LoRAs this server may use, with their trigger words. */
export const HELP_TOPICS = ['loras'] as const;

export const data = named(new SlashCommandBuilder(), 'help', 'cmd.help.name', 'cmd.help.description').addStringOption((o) =>
  named(o, 'topic', 'cmd.help.topic.name', 'cmd.help.topic.description').addChoices(choice('loras', 'cmd.help.topic.loras')),
);
