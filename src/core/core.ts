/**
 * The platform-neutral core every adapter talks to: settings, quotas, the
 * answer pipeline and the command runner.
 */
import { hostname } from 'node:os';
import type { Config } from '../config.ts';
import type { LlmService, ModelCatalog } from '../llm/types.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/types.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import type { CommandDefinition } from './commands.ts';
import { CoreEvents } from './events.ts';
import { createAdapterHost, type AdapterHost } from './host.ts';
import { InboundRouter } from './inbound.ts';
import { KeyStateCache, type OpenRouterAccount } from './openrouter-key.ts';
import { AnswerPipeline } from './pipeline.ts';
import { QuotaService } from './quota.ts';
import { Approvals } from './approvals.ts';
import { toolRoleHooks } from './role-rules.ts';
import { RateBudget } from './rate-budget.ts';
import { MembershipCache } from './roles.ts';
import { defaultSettings, SettingsService } from './settings.ts';
import { systemClock, type Clock } from './types.ts';
import { TurnGate } from './turn-gate.ts';

export interface CoreDeps {
  config: Config;
  logger: Logger;
  store: Store;
  llm: LlmService;
  registry: ToolRegistry;
  commands: readonly CommandDefinition[];
  /** OpenRouter's key and generation endpoints; without it /quota and /usage say they cannot tell. */
  account?: OpenRouterAccount;
  clock?: Clock;
  /** Identifies this process's quota reservations (crash clean-up). */
  instanceId?: string;
}

export interface Core {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly llm: LlmService;
  readonly catalog: ModelCatalog;
  readonly registry: ToolRegistry;
  /** OpenRouter's records of the key and of each answer (undefined when not wired). */
  readonly account: OpenRouterAccount | undefined;
  /** The key's state, cached a minute (undefined without an account). */
  readonly keyState: KeyStateCache | undefined;
  readonly settings: SettingsService;
  readonly quota: QuotaService;
  /** Members' roles (user groups), read from the platform and cached (ROLE_CACHE_TTL_MS). */
  readonly membership: MembershipCache;
  /** Tool calls waiting for their asker's Allow (destructive tools, /tools confirm). */
  readonly approvals: Approvals;
  readonly pipeline: AnswerPipeline;
  readonly budget: RateBudget;
  /** Spreads bursts of new answers over event-loop turns (see turn-gate.ts). */
  readonly turns: TurnGate;
  readonly clock: Clock;
  readonly commands: readonly CommandDefinition[];
  readonly instanceId: string;
  /** Observers (metrics, alerts) subscribe here. */
  readonly events: CoreEvents;
  /**
   * Set once when the process starts shutting down: the pipeline and the
   * command runner refuse new work with a "restarting" message.
   */
  draining: boolean;
  /** ADMIN_USER_IDS, or the platform's own admins; in a DM only ADMIN_USER_IDS (a DM has no server whose managers could count). */
  isAdmin(who: { platform: string; user: { id: string }; isDm?: boolean; isPlatformAdmin(): Promise<boolean> }): Promise<boolean>;
  /** The one entry point for inbound events from every platform. */
  readonly inbound: InboundRouter;
  /** What adapters see of the core (they are given this, never the Core). */
  readonly host: AdapterHost;
}

export function createCore(deps: CoreDeps): Core {
  const clock = deps.clock ?? systemClock;
  const instanceId = deps.instanceId ?? `${hostname()}:${process.pid}:${Date.now().toString(36)}`;
  const adminIds = new Set(deps.config.adminUserIds);
  const core: Core = {
    config: deps.config,
    logger: deps.logger,
    store: deps.store,
    llm: deps.llm,
    catalog: deps.llm.catalog,
    registry: deps.registry,
    account: deps.account,
    keyState: deps.account ? new KeyStateCache(deps.account, clock) : undefined,
    settings: new SettingsService(deps.store, defaultSettings(deps.config)),
    quota: new QuotaService(deps.store, deps.config.quota, instanceId, () => new Date(clock.now()), (error, attempt, delayMs) =>
      deps.logger.warn({ err: error, attempt, delayMs }, 'recording usage failed; retrying'),
    ),
    membership: new MembershipCache(clock, deps.logger, deps.config.roleCacheTtlMs),
    approvals: undefined as unknown as Approvals,
    pipeline: undefined as unknown as AnswerPipeline,
    inbound: undefined as unknown as InboundRouter,
    host: undefined as unknown as AdapterHost,
    budget: new RateBudget(clock),
    turns: new TurnGate(),
    clock,
    commands: deps.commands,
    instanceId,
    events: new CoreEvents((error, event) => deps.logger.warn({ err: error, event }, 'a core event listener failed')),
    draining: false,
    async isAdmin(who) {
      if (adminIds.has(`${who.platform}:${who.user.id}`)) return true;
      if (who.isDm) return false;
      try {
        return await who.isPlatformAdmin();
      } catch (error) {
        deps.logger.warn({ err: error, platform: who.platform, user: who.user.id }, 'admin check failed; treating as not an admin');
        return false;
      }
    },
  };
  (core as { pipeline: AnswerPipeline }).pipeline = new AnswerPipeline(core);
  (core as { approvals: Approvals }).approvals = new Approvals(core);
  // Role rules first: a tool the asker may not use is refused before anyone is asked to allow it.
  deps.registry.addHooks(toolRoleHooks(core));
  deps.registry.addHooks(core.approvals.hooks());
  const inbound = new InboundRouter(core);
  Object.assign(core, { inbound, host: createAdapterHost(core, inbound) });
  return core;
}
