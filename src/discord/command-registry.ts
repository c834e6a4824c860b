import { createHash } from 'node:crypto';
import type {
  AutocompleteInteraction,
  ChatInputCommandInteraction,
  ContextMenuCommandBuilder,
  MessageContextMenuCommandInteraction,
  SlashCommandBuilder,
  SlashCommandOptionsOnlyBuilder,
  SlashCommandSubcommandsOnlyBuilder,
} from 'discord.js';

export type CommandDefinition = Pick<
  SlashCommandBuilder | SlashCommandOptionsOnlyBuilder | SlashCommandSubcommandsOnlyBuilder | ContextMenuCommandBuilder,
  'name' | 'toJSON'
>;

/** The interactions a command handler gets: a slash command, or a message command (right-click a message → Apps). */
export type CommandInteraction = ChatInputCommandInteraction | MessageContextMenuCommandInteraction;

/** What a file in src/discord/commands/ exports: the command it handles and how. */
export interface CommandHandler<I extends CommandInteraction = ChatInputCommandInteraction> {
  readonly name: string;
  execute(interaction: I): Promise<void>;
  autocomplete?(interaction: AutocompleteInteraction): Promise<void>;
}

/**
 * Pairs every definition in commands/ with its handler. Fails at start (not at the first click) when a
 * definition has no handler, a handler has no definition, or a name appears twice.
 */
export class CommandRegistry {
  readonly #handlers: ReadonlyMap<string, CommandHandler<CommandInteraction>>;
  readonly definitions: readonly CommandDefinition[];

  constructor(
    definitions: readonly CommandDefinition[],
    handlers: readonly (CommandHandler | CommandHandler<MessageContextMenuCommandInteraction>)[],
  ) {
    const problems: string[] = [];
    const defined = new Set<string>();
    for (const definition of definitions) {
      if (defined.has(definition.name)) problems.push(`command /${definition.name} is defined twice`);
      defined.add(definition.name);
    }
    const byName = new Map<string, CommandHandler<CommandInteraction>>();
    for (const handler of handlers) {
      if (byName.has(handler.name)) problems.push(`command /${handler.name} has two handlers`);
      if (!defined.has(handler.name)) problems.push(`handler for /${handler.name} has no definition in commands/`);
      byName.set(handler.name, handler);
    }
    for (const name of defined) if (!byName.has(name)) problems.push(`command /${name} has no handler in src/discord/commands/`);
    if (problems.length > 0) throw new TypeError(`Command registry is inconsistent: ${problems.join('; ')}`);
    this.#handlers = byName;
    this.definitions = definitions;
  }

  get(name: string): CommandHandler<CommandInteraction> | undefined {
    return this.#handlers.get(name);
  }

  /** The JSON Discord receives on registration. */
  toJSON(): unknown[] {
    return this.definitions.map((definition) => definition.toJSON());
  }

  /**
   * A stable hash of the definitions and where they go. Registration is skipped when it matches the hash stored
   * after the last successful registration, which keeps restarts from burning the daily command-create quota.
   */
  hash(scope: string): string {
    return createHash('sha256').update(scope).update('\0').update(JSON.stringify(this.toJSON())).digest('hex');
  }
}
