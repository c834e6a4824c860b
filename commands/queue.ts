import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { named } from './localize.js';

export const data = named(new SlashCommandBuilder(), 'queue', 'cmd.queue.name', 'cmd.queue.description').setContexts(InteractionContextType.Guild);
