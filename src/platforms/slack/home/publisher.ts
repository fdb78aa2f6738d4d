/**
 * app_home_opened -> views.publish. The tab is rebuilt on every open; opens
 * that arrive while a user's tab is being built are folded into one more
 * build afterwards (a burst of opens costs at most two publishes). An admin's
 * chart is uploaded with files.uploadV2 (no public URL needed, so it works in
 * Socket Mode) and uploaded again only when its numbers changed.
 */
import { createHash } from 'node:crypto';
import type { Dashboard } from '../../../core/dashboard.ts';
import { BoundedMap } from '../../../util/bounded-map.ts';
import { PLATFORM, type SlackDeps } from '../deps.ts';
import { renderChartPng } from './chart.ts';
import { homeBlocks } from './view.ts';

/** Workspaces whose last chart upload is remembered. */
const CHART_CACHE = 500;

interface UploadResult {
  files?: Array<{ files?: Array<{ id?: string }> }>;
}

export class HomePublisher {
  /** Users whose tab is being built; `again` when another open came meanwhile. */
  readonly #building = new Map<string, { again: boolean }>();
  readonly #charts = new BoundedMap<{ hash: string; fileId: string }>(CHART_CACHE);

  constructor(private readonly deps: SlackDeps) {}

  /** Publishes the user's Home tab now, or once more after the build under way. */
  async opened(userId: string, teamId: string): Promise<void> {
    const key = `${teamId}:${userId}`;
    const running = this.#building.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: true };
    this.#building.set(key, state);
    try {
      while (state.again) {
        state.again = false;
        await this.#publish(userId, teamId);
      }
    } finally {
      this.#building.delete(key);
    }
  }

  async #publish(userId: string, teamId: string): Promise<void> {
    const { deps } = this;
    const isAdmin = await deps.host.isAdmin({ platform: PLATFORM, user: { id: userId }, isPlatformAdmin: () => deps.directory.isAdmin(userId) });
    const dashboard = await deps.host.dashboard({ platform: PLATFORM, workspaceId: teamId, userId, isAdmin });
    const chart = dashboard.workspace ? await this.#chart(teamId, dashboard) : undefined;
    await deps.client.views.publish({ user_id: userId, view: { type: 'home', blocks: homeBlocks(dashboard, chart) } });
  }

  /** The chart's file: the last upload while the numbers are the same, else a new one. Undefined when the upload failed (the text stays). */
  async #chart(teamId: string, dashboard: Dashboard): Promise<{ fileId: string } | undefined> {
    const workspace = dashboard.workspace!;
    const input = { days: workspace.days, spend: workspace.dailySpend };
    const hash = createHash('sha256').update(JSON.stringify(input)).digest('hex');
    const cached = this.#charts.get(teamId);
    if (cached?.hash === hash) return { fileId: cached.fileId };
    try {
      const png = renderChartPng(input);
      const result = (await this.deps.client.filesUploadV2({
        file: png,
        filename: 'switchboard-spend.png',
        title: 'Spend per day by model',
        alt_text: 'Spend per day by model for the last 30 days',
      })) as UploadResult;
      const fileId = result.files?.[0]?.files?.[0]?.id;
      if (!fileId) throw new Error('files.uploadV2 returned no file id');
      this.#charts.set(teamId, { hash, fileId });
      return { fileId };
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not upload the Home chart; showing its numbers as text only');
      return undefined;
    }
  }
}
