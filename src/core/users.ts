import type { CommandUser, Invocation } from './commands.ts';
import { UserFacingError } from './errors.ts';

/** Pulls a user id out of a mention (`<@123>`, `<@!123>`, `<@U123|name>`) or takes the text as an id. */
export function parseUserRef(ref: string): string | undefined {
  const text = ref.trim();
  const mention = /^<@!?([A-Za-z0-9_.-]+)(?:\|[^>]*)?>$/.exec(text);
  if (mention) return mention[1];
  if (/^@?[A-Za-z0-9_.-]{1,64}$/.test(text)) return text.replace(/^@/, '');
  return undefined;
}

/** The user a command option names, checked with the platform when it can look users up. */
export async function resolveUser(invocation: Invocation, ref: string): Promise<CommandUser> {
  const id = parseUserRef(ref);
  if (!id) throw new UserFacingError('bad-input', `\`${ref.slice(0, 60)}\` is not a user: mention them or give their id.`);
  if (id === invocation.user.id) return invocation.user;
  if (invocation.lookupUser) {
    const found = await invocation.lookupUser(id);
    if (!found) throw new UserFacingError('not-found', `There is no user \`${id}\` here.`);
    return found;
  }
  return { id, name: id };
}
