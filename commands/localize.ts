/**
 * Discord's name and description localizations for the command definitions, from the message catalogue (src/i18n):
 * every locale but English (the definitions' own names and descriptions are English) gets its entry, so a new
 * catalogue shows up in the command picker with no change here. Names are display only: Discord sends handlers the
 * English names whatever the member's language, so option names in the handlers never change.
 */
import type { APIApplicationCommandOptionChoice, LocalizationMap } from 'discord.js';
import { LOCALES } from '../src/i18n/locales.js';
import { t, type MessageKey, type ParamsArgs, type PlainKey } from '../src/i18n/translate.js';

/** The message in every non-English locale, keyed by its Discord locale code (the catalogue codes are Discord's). */
export function localized<K extends MessageKey>(key: K, ...args: ParamsArgs<K>): LocalizationMap {
  const map: Record<string, string> = {};
  for (const locale of LOCALES) if (locale !== 'en') map[locale] = t(locale, key, ...args);
  return map as LocalizationMap;
}

/** The English description, for `setDescription`. */
export const english = <K extends MessageKey>(key: K, ...args: ParamsArgs<K>): string => t('en', key, ...args);

interface Localizable {
  setName(name: string): this;
  setNameLocalizations(map: LocalizationMap | null): this;
  setDescription(description: string): this;
  setDescriptionLocalizations(map: LocalizationMap | null): this;
}

type NameKey = Extract<MessageKey, `${string}.name`>;
type DescriptionKey = Extract<MessageKey, `${string}.description`>;

/** Sets a command's, subcommand's or option's name and description with their localizations. */
export function named<B extends Localizable, D extends DescriptionKey>(
  builder: B,
  name: string,
  nameKey: NameKey,
  descriptionKey: D,
  ...args: ParamsArgs<D>
): B {
  return builder
    .setName(name)
    .setNameLocalizations(localized(nameKey))
    .setDescription(english(descriptionKey, ...args))
    .setDescriptionLocalizations(localized(descriptionKey, ...args));
}

/** A choice whose English name is its value, shown localized. */
export function choice<V extends string>(value: V, nameKey: PlainKey): APIApplicationCommandOptionChoice<V> {
  return { name: english(nameKey), name_localizations: localized(nameKey), value } as APIApplicationCommandOptionChoice<V>;
}
