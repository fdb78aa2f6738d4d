/**
 * The processes of docs/DEPLOY.md's Procfile, for tests: bots (`npm start`'s
 * entry point) and the Discord proxy (`npm run discord:proxy`'s), each started
 * again with the very same environment, as a process manager does in a
 * rollout.
 */
import { createServer } from 'node:net';
import { spawnEntry, type BotProcess } from './entry-point.ts';
import { waitFor as poll, type Check } from './wait.ts';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Polls (real time, every 25 ms, 10 s by default) until check returns a truthy value. */
export function waitFor<T>(check: Check<T>, what: string, timeoutMs = 10_000): Promise<T> {
  return poll(check, what, timeoutMs, 25);
}

/** One line of a Procfile, running: its script, its environment and the process now serving it. */
export interface FleetProcess extends BotProcess {
  name: string;
  script: string;
  env: Record<string, string>;
  /** Where GET /healthz answers (the bot's METRICS_PORT, the proxy's own port). */
  healthUrl: string;
}

/** A bot with the ports of its Procfile line. */
export interface FleetBot extends FleetProcess {
  slackUrl: string;
  slackPort: number;
  metricsUrl: string;
}

export function startProcess(name: string, script: string, env: Record<string, string>, healthUrl: string): FleetProcess {
  return { name, script, env, healthUrl, ...spawnEntry(script, env) };
}

/** A bot on its own SLACK_PORT and METRICS_PORT (on 127.0.0.1), with `env` besides. */
export async function startBot(name: string, env: Record<string, string>): Promise<FleetBot> {
  const [slackPort, metricsPort] = await Promise.all([freePort(), freePort()]);
  const all = { ...env, SLACK_PORT: String(slackPort), METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' };
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  return { ...startProcess(name, 'src/main.ts', all, `${metricsUrl}/healthz`), slackPort, slackUrl: `http://127.0.0.1:${slackPort}/slack/events`, metricsUrl };
}

/** The same Procfile line started again (same script, environment and ports) once the old process is gone. */
export function startAgain<P extends FleetProcess>(old: P): P {
  if (old.child.exitCode === null && old.child.signalCode === null) throw new Error(`${old.name} is still running`);
  return { ...old, ...spawnEntry(old.script, old.env) };
}

/** Waits until the process's /healthz answers 200; fails with its output if it exits first. */
export async function healthy(proc: FleetProcess, timeoutMs = 45_000): Promise<void> {
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode}:\n${proc.output()}`);
      return fetch(proc.healthUrl).then(
        async (r) => {
          await r.body?.cancel();
          return r.status === 200;
        },
        () => false,
      );
    },
    `${proc.name} to be healthy`,
    timeoutMs,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; its output:\n${proc.output()}`);
  });
}
