/**
 * The plpgsql quota functions exactly as migration 10 installed them. Never
 * edit (a migration that has shipped is history): later migrations replace
 * or add functions (postgres-quota.ts). switchboard_reserve_one is still
 * called by migration 14's batch function; switchboard_reserve and
 * switchboard_settle stay for processes of the version before it during a
 * rolling upgrade.
 */
/**
 * CREATE OR REPLACE: a later migration may install a newer version. Unqualified
 * names resolve through the caller's search_path, so the functions serve the
 * schema they are called in (DATABASE_URL's ?schema=, or public).
 */
export const POSTGRES_QUOTA_FUNCTIONS_V10 = [
  // One reserve or top-up; the caller holds the workspace's lock.
  `create or replace function switchboard_reserve_one(
    p_id text, p_platform text, p_workspace text, p_user text, p_channel text,
    p_tokens bigint, p_usd double precision, p_now bigint, p_expires bigint, p_owner text,
    p_day_start bigint, p_month_start bigint, p_top_up boolean,
    p_max_concurrent double precision, p_requests_per_day double precision, p_tokens_per_day double precision,
    p_usd_per_day double precision, p_usd_per_month double precision, p_server_usd_per_month double precision,
    p_usd_slack double precision,
    out refused_limit text, out used_amount double precision, out limit_max double precision)
  language plpgsql volatile as $fn$
  declare
    held_tokens bigint;
    held_usd double precision;
    raising boolean := false;
    add_tokens double precision := p_tokens;
    add_usd double precision := p_usd;
    day_requests double precision := 0; day_tokens double precision := 0; day_usd double precision := 0;
    month_usd double precision := 0;
    live_requests double precision; live_tokens double precision; live_usd double precision;
    ws_month_usd double precision := 0; ws_live_usd double precision;
  begin
    if p_top_up then
      select r.tokens, r.usd into held_tokens, held_usd from reservations r where r.id = p_id and r.expires_at > p_now;
      if found then
        raising := true;
        add_tokens := greatest(0, p_tokens - held_tokens);
        add_usd := greatest(0, p_usd - held_usd);
        if add_tokens = 0 and add_usd = 0 then return; end if;
      end if;
    end if;

    select coalesce(sum(t.requests) filter (where t.period = 'day'), 0), coalesce(sum(t.tokens) filter (where t.period = 'day'), 0),
           coalesce(sum(t.usd) filter (where t.period = 'day'), 0), coalesce(sum(t.usd) filter (where t.period = 'month'), 0)
      into day_requests, day_tokens, day_usd, month_usd
      from usage_totals t
      where t.platform = p_platform and t.workspace_id = p_workspace and t.user_id = p_user
        and ((t.period = 'day' and t.starts_at = p_day_start) or (t.period = 'month' and t.starts_at = p_month_start));
    select count(*), coalesce(sum(r.tokens), 0), coalesce(sum(r.usd), 0) into live_requests, live_tokens, live_usd
      from reservations r
      where r.platform = p_platform and r.workspace_id = p_workspace and r.user_id = p_user and r.expires_at > p_now;

    if not raising and p_max_concurrent is not null and live_requests + 1 > p_max_concurrent then
      refused_limit := 'concurrent-requests'; used_amount := live_requests; limit_max := p_max_concurrent; return;
    end if;
    if not raising and p_requests_per_day is not null and (day_requests + live_requests) + 1 > p_requests_per_day then
      refused_limit := 'requests-per-day'; used_amount := day_requests + live_requests; limit_max := p_requests_per_day; return;
    end if;
    if p_tokens_per_day is not null and (day_tokens + live_tokens) + add_tokens > p_tokens_per_day then
      refused_limit := 'tokens-per-day'; used_amount := day_tokens + live_tokens; limit_max := p_tokens_per_day; return;
    end if;
    if p_usd_per_day is not null and (day_usd + live_usd) + add_usd > p_usd_per_day + p_usd_slack then
      refused_limit := 'usd-per-day'; used_amount := day_usd + live_usd; limit_max := p_usd_per_day; return;
    end if;
    if p_usd_per_month is not null and (month_usd + live_usd) + add_usd > p_usd_per_month + p_usd_slack then
      refused_limit := 'usd-per-month'; used_amount := month_usd + live_usd; limit_max := p_usd_per_month; return;
    end if;
    if p_server_usd_per_month is not null then
      select coalesce(sum(t.usd), 0) into ws_month_usd from usage_totals t
        where t.platform = p_platform and t.workspace_id = p_workspace and t.user_id = ''
          and t.period = 'month' and t.starts_at = p_month_start;
      select coalesce(sum(r.usd), 0) into ws_live_usd from reservations r
        where r.platform = p_platform and r.workspace_id = p_workspace and r.expires_at > p_now;
      if (ws_month_usd + ws_live_usd) + add_usd > p_server_usd_per_month + p_usd_slack then
        refused_limit := 'server-usd-per-month'; used_amount := ws_month_usd + ws_live_usd; limit_max := p_server_usd_per_month; return;
      end if;
    end if;

    if raising then
      update reservations set tokens = greatest(p_tokens, held_tokens), usd = greatest(p_usd, held_usd) where id = p_id;
    else
      -- A top-up of a reservation that expired meanwhile replaces the dead row.
      insert into reservations (id, platform, workspace_id, user_id, channel_id, tokens, usd, created_at, expires_at, owner)
        values (p_id, p_platform, p_workspace, p_user, p_channel, p_tokens, p_usd, p_now, p_expires, p_owner)
        on conflict (id) do update set tokens = excluded.tokens, usd = excluded.usd, created_at = excluded.created_at,
          expires_at = excluded.expires_at, owner = excluded.owner;
    end if;
  end
  $fn$`,
  // A batch of reserves and top-ups of one workspace, in order, under one lock.
  `create or replace function switchboard_reserve(p_lock_key text, p_requests json)
  returns json language plpgsql volatile as $fn$
  declare
    r json;
    o record;
    results json[] := '{}';
  begin
    -- A reservation is a promise about the next minutes, not a record: it need
    -- not wait for the WAL to reach the disk, and the lock is not held across
    -- that wait (a database crash can lose the last fraction of a second of
    -- reservations; every settled answer's ledger row stays durable).
    perform set_config('synchronous_commit', 'off', true);
    perform pg_advisory_xact_lock(hashtext(p_lock_key));
    for r in select value from json_array_elements(p_requests) loop
      select * into o from switchboard_reserve_one(
        r->>0, r->>1, r->>2, r->>3, r->>4, (r->>5)::bigint, (r->>6)::double precision, (r->>7)::bigint, (r->>8)::bigint,
        r->>9, (r->>10)::bigint, (r->>11)::bigint, (r->>12)::boolean, (r->>13)::double precision, (r->>14)::double precision,
        (r->>15)::double precision, (r->>16)::double precision, (r->>17)::double precision, (r->>18)::double precision,
        (r->>19)::double precision);
      results := results || json_build_array(o.refused_limit, o.used_amount, o.limit_max);
    end loop;
    return array_to_json(results);
  end
  $fn$`,
  // A batch of settles of one workspace, each 'settled', or 'conflict' when the
  // ledger already has the row and it may be a sweeper's to replace: the caller
  // takes that rare path in a transaction.
  `create or replace function switchboard_settle(p_lock_key text, p_entries json)
  returns json language plpgsql volatile as $fn$
  declare
    e json;
    entry usage_ledger;
    inserted integer;
    day_start bigint;
    month_start bigint;
    results text[] := '{}';
  begin
    perform pg_advisory_xact_lock(hashtext(p_lock_key));
    for e in select value from json_array_elements(p_entries) loop
      entry := json_populate_record(null::usage_ledger, e->'row');
      day_start := (e->>'dayStart')::bigint;
      month_start := (e->>'monthStart')::bigint;
      if e->>'reservationId' is not null then delete from reservations where id = e->>'reservationId'; end if;
      -- With the ledger row, so a crash cannot leave a settled answer to be marked interrupted.
      delete from active_answers where request_id = entry.request_id;
      insert into usage_ledger select (entry).* on conflict (request_id) do nothing;
      get diagnostics inserted = row_count;
      if inserted = 0 then
        results := results || (case when entry.error_kind = 'process-died' or entry.outcome = 'refused' then 'settled' else 'conflict' end);
        continue;
      end if;
      if entry.outcome <> 'refused' then
        insert into usage_totals (platform, workspace_id, user_id, period, starts_at, requests, tokens, usd) values
          (entry.platform, entry.workspace_id, entry.user_id, 'day', day_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd),
          (entry.platform, entry.workspace_id, entry.user_id, 'month', month_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd),
          (entry.platform, entry.workspace_id, '', 'day', day_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd),
          (entry.platform, entry.workspace_id, '', 'month', month_start, 1, entry.tokens_in + entry.tokens_out, entry.cost_usd)
          on conflict (platform, workspace_id, user_id, period, starts_at) do update set
            requests = usage_totals.requests + excluded.requests,
            tokens = usage_totals.tokens + excluded.tokens,
            usd = usage_totals.usd + excluded.usd;
      end if;
      results := results || 'settled'::text;
    end loop;
    return array_to_json(results);
  end
  $fn$`,
];
