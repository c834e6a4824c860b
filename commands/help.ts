import { SlashCommandBuilder } from 'discord.js';

export const data = new SlashCommandBuilder().setName('help').setDescription('How to use the image bot');
