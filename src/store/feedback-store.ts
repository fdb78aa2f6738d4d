/**
 * The store methods of answer feedback, Slack assistant threads and the App
 * Home dashboard (migration 11), on the same kysely query layer as the rest,
 * so SQLite and PostgreSQL run the same statements.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { AssistantThread, FeedbackAndDashboardStore } from './types.ts';

const DAY_MS = 86_400_000;

type Run = <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>;

export function feedbackStoreMethods(run: Run): FeedbackAndDashboardStore {
  return {
    async setFeedback(vote) {
      await run((db) =>
        db
          .insertInto('answer_feedback')
          .values({ platform: vote.platform, request_id: vote.requestId, user_id: vote.userId, vote: vote.vote, at: vote.at.getTime() })
          .onConflict((oc) =>
            oc.columns(['platform', 'request_id', 'user_id']).doUpdateSet((eb) => ({ vote: eb.ref('excluded.vote'), at: eb.ref('excluded.at') })),
          )
          .execute(),
      );
    },

    async satisfaction(query) {
      const model = sql<string>`coalesce(l.model_answered, l.model_requested)`;
      const rows = await run((db) =>
        db
          .selectFrom('answer_feedback as f')
          .innerJoin('usage_ledger as l', (join) => join.onRef('l.request_id', '=', 'f.request_id').onRef('l.platform', '=', 'f.platform'))
          .where('l.platform', '=', query.platform)
          .where('l.workspace_id', '=', query.workspaceId)
          .where('l.at', '>=', query.from.getTime())
          .where('l.at', '<', query.to.getTime())
          .select([
            model.as('model'),
            sql<number>`sum(case when f.vote > 0 then 1 else 0 end)`.as('up'),
            sql<number>`sum(case when f.vote < 0 then 1 else 0 end)`.as('down'),
          ])
          .groupBy(model)
          .orderBy(sql`count(*)`, 'desc')
          .orderBy(model, 'asc')
          .execute(),
      );
      return rows.map((row) => ({ model: String(row.model), up: Number(row.up), down: Number(row.down) }));
    },

    async saveAssistantThread(thread) {
      const values = {
        platform: thread.platform,
        channel_id: thread.channelId,
        thread_ts: thread.threadTs,
        user_id: thread.userId,
        context_team_id: thread.contextTeamId,
        context_channel_id: thread.contextChannelId,
        titled: thread.titled ? 1 : 0,
        updated_at: thread.updatedAt.getTime(),
      };
      await run((db) =>
        db
          .insertInto('assistant_threads')
          .values(values)
          .onConflict((oc) =>
            oc.columns(['platform', 'channel_id', 'thread_ts']).doUpdateSet((eb) => ({
              user_id: eb.ref('excluded.user_id'),
              context_team_id: eb.ref('excluded.context_team_id'),
              context_channel_id: eb.ref('excluded.context_channel_id'),
              titled: eb.ref('excluded.titled'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute(),
      );
    },

    async assistantThread(platform, channelId, threadTs) {
      const row = await run((db) =>
        db
          .selectFrom('assistant_threads')
          .selectAll()
          .where('platform', '=', platform)
          .where('channel_id', '=', channelId)
          .where('thread_ts', '=', threadTs)
          .executeTakeFirst(),
      );
      if (!row) return undefined;
      const thread: AssistantThread = {
        platform: row.platform,
        channelId: row.channel_id,
        threadTs: row.thread_ts,
        userId: row.user_id,
        contextTeamId: row.context_team_id,
        contextChannelId: row.context_channel_id,
        titled: Number(row.titled) === 1,
        updatedAt: new Date(Number(row.updated_at)),
      };
      return thread;
    },

    async dailySpend(query) {
      // Whole-number division in both engines (bigint / bigint): the UTC day's number.
      const day = sql<number>`(at / ${sql.lit(DAY_MS)})`;
      const model = sql<string>`coalesce(model_answered, model_requested)`;
      const rows = await run((db) =>
        db
          .selectFrom('usage_ledger')
          .where('outcome', '!=', 'refused')
          .where('platform', '=', query.platform)
          .where('workspace_id', '=', query.workspaceId)
          .where('at', '>=', query.from.getTime())
          .where('at', '<', query.to.getTime())
          .select((eb) => [day.as('day'), model.as('model'), eb.fn.countAll().as('requests'), eb.fn.coalesce(eb.fn.sum('cost_usd'), eb.lit(0)).as('cost_usd')])
          .groupBy([day, model])
          .orderBy(day, 'asc')
          .orderBy(model, 'asc')
          .execute(),
      );
      return rows.map((row) => ({
        day: new Date(Math.floor(Number(row.day)) * DAY_MS),
        model: String(row.model),
        requests: Number(row.requests),
        costUsd: Number(row.cost_usd),
      }));
    },

    async channelsWithSettings(platform, workspaceId) {
      const prefix = `${workspaceId}/`;
      const rows = await run((db) =>
        db
          .selectFrom('settings')
          .select(['scope_id', 'key'])
          .where('platform', '=', platform)
          .where('scope_kind', '=', 'channel')
          .where(sql<string>`substr(scope_id, 1, ${prefix.length})`, '=', prefix)
          .orderBy('scope_id', 'asc')
          .orderBy('key', 'asc')
          .execute(),
      );
      const byChannel = new Map<string, string[]>();
      for (const row of rows) {
        const channelId = row.scope_id.slice(prefix.length);
        byChannel.set(channelId, [...(byChannel.get(channelId) ?? []), row.key]);
      }
      return [...byChannel].map(([channelId, keys]) => ({ channelId, keys }));
    },
  };
}
