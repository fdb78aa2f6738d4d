/** Every command, listed explicitly (no folder scanning). */
import type { CommandDefinition } from '../src/core/commands.ts';
import ask from './ask.ts';
import image from './image.ts';
import model from './model.ts';
import models from './models.ts';
import newConversation from './new.ts';
import prompt from './prompt.ts';
import quota from './quota.ts';
import stop from './stop.ts';
import tools from './tools.ts';
import usage from './usage.ts';

export const commands: readonly CommandDefinition[] = [ask, image, model, models, prompt, tools, usage, quota, newConversation, stop];
