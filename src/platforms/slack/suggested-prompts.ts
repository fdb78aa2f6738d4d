/** Suggested prompts as Slack wants them (the manifest's assistant view and setSuggestedPrompts): a short title and the message sent. */
import { truncate } from '../../util/text.ts';

/** Slack shows at most four. */
const MAX_PROMPTS = 4;
const TITLE_LIMIT = 40;

export function suggestedPrompts(prompts: readonly string[]): Array<{ title: string; message: string }> {
  return prompts.slice(0, MAX_PROMPTS).map((prompt) => ({ title: truncate(prompt, TITLE_LIMIT), message: prompt }));
}
