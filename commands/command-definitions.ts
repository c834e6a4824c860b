import * as config from './config.js';
import * as edit from './edit.js';
import * as help from './help.js';
import * as imagine from './imagine.js';
import * as imagineThis from './imagine-this.js';
import * as queue from './queue.js';

/** Every command definition (slash commands and the message command); the registry checks each has exactly one handler. */
export const commandDefinitions = [imagine.data, edit.data, config.data, queue.data, help.data, imagineThis.data] as const;
