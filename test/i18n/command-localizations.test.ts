import { describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../commands/command-definitions.js';
import { en } from '../../src/i18n/en.js';
import { LOCALES } from '../../src/i18n/locales.js';
import { SAMPLER_NAMES } from '../../src/protocol/samplers.js';

/** Discord's rule for chat-input command and option names (discord.com/developers/docs/interactions/application-commands). */
const CHAT_INPUT_NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const TRANSLATED = LOCALES.filter((l) => l !== 'en');

interface Node {
  path: string;
  name: string;
  name_localizations?: Record<string, string> | null;
  description?: string;
  description_localizations?: Record<string, string> | null;
  options?: Node[];
  choices?: { name: string; value: string | number; name_localizations?: Record<string, string> | null }[];
  type?: number;
}

const commands = commandDefinitions.map((d) => d.toJSON() as unknown as Node);

function walk(node: Node, path: string, out: Node[]): void {
  out.push({ ...node, path });
  for (const option of node.options ?? []) walk(option, `${path} ${option.name}`, out);
}
const nodes: Node[] = [];
for (const command of commands) walk(command, `/${command.name}`, nodes);

/** Choices named the same in every language: sampler identifiers, and the /config language choices (each in its own language). */
const UNTRANSLATED_CHOICES = new Set<string | number>([...SAMPLER_NAMES, ...LOCALES]);

describe('command registration localizations', () => {
  it('every command, subcommand and option has a name and description in every translated locale', () => {
    const missing: string[] = [];
    for (const node of nodes) {
      for (const locale of TRANSLATED) {
        if (!node.name_localizations?.[locale]) missing.push(`${node.path}: name in ${locale}`);
        // Message commands have no description.
        if (node.description !== '' && node.description !== undefined && !node.description_localizations?.[locale])
          missing.push(`${node.path}: description in ${locale}`);
      }
    }
    expect(missing).toEqual([]);
    expect(nodes.length).toBeGreaterThan(60);
  });

  it("names follow Discord's rules: 1–32 characters, its name pattern and lower case for chat-input commands", () => {
    const bad: string[] = [];
    for (const node of nodes) {
      const messageCommand = node.type === 3;
      for (const [locale, name] of [['en', node.name], ...Object.entries(node.name_localizations ?? {})] as [string, string][]) {
        const length = [...name].length;
        if (length < 1 || length > 32) bad.push(`${node.path} ${locale}: "${name}" is ${length} characters`);
        if (messageCommand) continue;
        if (!CHAT_INPUT_NAME.test(name)) bad.push(`${node.path} ${locale}: "${name}" does not match the name pattern`);
        if (name !== name.toLowerCase()) bad.push(`${node.path} ${locale}: "${name}" is not lower case`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('descriptions and choice names are 1–100 characters in every locale', () => {
    const bad: string[] = [];
    for (const node of nodes) {
      for (const [locale, description] of Object.entries({ en: node.description, ...(node.description_localizations ?? {}) })) {
        if (description === undefined || node.type === 3) continue;
        if (description.length < 1 || description.length > 100) bad.push(`${node.path} ${locale}: description of ${description.length}`);
      }
      for (const choice of node.choices ?? []) {
        for (const [locale, name] of Object.entries({ en: choice.name, ...(choice.name_localizations ?? {}) })) {
          if (name.length < 1 || name.length > 100) bad.push(`${node.path} choice ${choice.value} ${locale}: ${name.length}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('every choice is translated, except sampler identifiers and language names', () => {
    const missing: string[] = [];
    for (const node of nodes) {
      for (const choice of node.choices ?? []) {
        if (UNTRANSLATED_CHOICES.has(choice.value)) continue;
        for (const locale of TRANSLATED) if (!choice.name_localizations?.[locale]) missing.push(`${node.path} choice ${choice.value} in ${locale}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('localized names are unique among their siblings, in every locale', () => {
    const clashes: string[] = [];
    for (const node of [...nodes, { path: '(top level)', name: '', options: commands.filter((c) => c.type !== 3) } as Node]) {
      for (const locale of TRANSLATED) {
        const names = (node.options ?? []).map((o) => o.name_localizations?.[locale] ?? o.name);
        const dupes = names.filter((n, i) => names.indexOf(n) !== i);
        if (dupes.length) clashes.push(`${node.path} ${locale}: ${dupes.join(', ')}`);
      }
    }
    expect(clashes).toEqual([]);
  });

  it("the English catalogue's names are the registered names (they document them; a rename shows up here)", () => {
    const registered = new Set(nodes.map((n) => n.name));
    const names = Object.entries(en).filter(([key]) => key.startsWith('cmd.') && key.endsWith('.name'));
    expect(names.length).toBeGreaterThan(40);
    expect(names.filter(([, name]) => !registered.has(name as string)).map(([key]) => key)).toEqual([]);
  });

  it('keeps the internal names English: handlers read them whatever the member sees', () => {
    const imagine = commands.find((c) => c.name === 'imagine')!;
    expect(imagine.name_localizations?.['zh-CN']).toBe('画图');
    expect(imagine.options?.map((o) => o.name)).toContain('prompt');
    expect(imagine.options?.find((o) => o.name === 'prompt')?.name_localizations?.['zh-CN']).toBe('提示词');
    const imagineThis = commands.find((c) => c.type === 3)!;
    expect(imagineThis.name).toBe('Imagine this');
    expect(imagineThis.name_localizations?.['zh-CN']).toBe('用这段话画图');
  });

  it('stays within 4,000 characters of names, descriptions and choice values per command in every locale', () => {
    for (const command of commands) {
      for (const locale of ['en', ...TRANSLATED]) {
        const all: Node[] = [];
        walk(command, '', all);
        const size = all.reduce((sum, node) => {
          const name = (locale !== 'en' && node.name_localizations?.[locale]) || node.name;
          const description = (locale !== 'en' && node.description_localizations?.[locale]) || node.description || '';
          const choices = (node.choices ?? []).reduce(
            (s, c) => s + ((locale !== 'en' && c.name_localizations?.[locale]) || c.name).length + String(c.value).length,
            0,
          );
          return sum + name.length + description.length + choices;
        }, 0);
        expect(size, `/${command.name} in ${locale}`).toBeLessThanOrEqual(4000);
      }
    }
  });
});
