{#- One row per session (docs/models.md, "Sessions").

    Incremental like events_sessionized, whose last run it follows: the devices whose events were
    redone since this table's last run (events_sessionized.processed_at) get all their sessions
    rebuilt (delete+insert on device_id). That set always holds whole persons, so session_number
    (per person) is computed within it. -#}
{{ config(
    materialized='incremental',
    unique_key='device_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}

with events as (
  select *
  from {{ ref('events_sessionized') }}
  {%- if is_incremental() %}
  where processed_at > {{ hw_last_processed(this) }}
  {%- endif %}
),

totals as (
  select
    session_id,
    min(ts) as session_start,
    max(ts) as session_end,
    count(*) as n_events,
    sum(case when event_type in ('page', 'screen') then 1 else 0 end) as n_page_views,
    sum(case when is_conversion then 1 else 0 end) as n_conversions,
    sum(case when is_conversion then revenue end) as revenue,
    max(processed_at) as processed_at
  from events
  group by session_id
),

views as (
  select
    session_id, page_url, page_path, screen_name, event_type,
    row_number() over (partition by session_id order by event_index) as from_start,
    row_number() over (partition by session_id order by event_index desc) as from_end
  from events
  where event_type in ('page', 'screen')
),

first_events as (
  select
    events.*,
    {{ hw_session_source('utm_source', 'utm_medium', 'gclid', 'referrer_host', 'page_url') }} as source,
    {{ hw_session_medium('utm_source', 'utm_medium', 'gclid', 'referrer_host', 'page_url', hw_source_category('referrer_category')) }} as medium
  from events
  {{ hw_source_category_joins('events.referrer_host', 'referrer_category') }}
  where event_index = 1
),

assembled as (
  select
    first_events.session_id,
    first_events.device_id,
    first_events.anonymous_id,
    first_events.person_id,
    totals.session_start,
    totals.session_end,
    {{ hw_epoch('totals.session_end') }} - {{ hw_epoch('totals.session_start') }} as duration_s,
    totals.n_events,
    totals.n_page_views,
    coalesce(landing.page_url, first_events.page_url) as landing_page_url,
    case when landing.session_id is not null
         then coalesce(landing.page_path, landing.screen_name)
         else first_events.page_path end as landing_path,
    case when exit_view.session_id is not null
         then coalesce(exit_view.page_path, exit_view.screen_name)
         else first_events.page_path end as exit_path,
    first_events.referrer,
    first_events.referrer_host,
    first_events.utm_source,
    first_events.utm_medium,
    first_events.utm_campaign,
    first_events.utm_term,
    first_events.utm_content,
    first_events.gclid,
    first_events.source,
    first_events.medium,
    first_events.channel,
    first_events.device_category,
    first_events.os_name,
    totals.n_conversions,
    totals.revenue,
    first_events.anonymous_id is null as is_server_only,
    totals.processed_at
  from first_events
  join totals on totals.session_id = first_events.session_id
  left join views as landing on landing.session_id = first_events.session_id and landing.from_start = 1
  left join views as exit_view on exit_view.session_id = first_events.session_id and exit_view.from_end = 1
)

select
  session_id,
  device_id,
  anonymous_id,
  person_id,
  session_start,
  session_end,
  cast(duration_s as {{ hw_double() }}) as duration_s,
  cast(n_events as bigint) as n_events,
  cast(n_page_views as bigint) as n_page_views,
  landing_page_url,
  landing_path,
  exit_path,
  referrer,
  referrer_host,
  utm_source,
  utm_medium,
  utm_campaign,
  utm_term,
  utm_content,
  gclid,
  source,
  medium,
  channel,
  device_category,
  os_name,
  cast(row_number() over (partition by person_id order by session_start, session_id) as bigint) as session_number,
  row_number() over (partition by person_id order by session_start, session_id) = 1 as is_new_user,
  (duration_s > 10 or n_page_views >= 2 or n_conversions > 0) as is_engaged,
  not (duration_s > 10 or n_page_views >= 2 or n_conversions > 0) as is_bounce,
  cast(n_conversions as bigint) as n_conversions,
  cast(revenue as {{ hw_double() }}) as revenue,
  is_server_only,
  processed_at
from assembled
