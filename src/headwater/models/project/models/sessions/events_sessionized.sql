{#- Every staged event with its person, session and order (docs/models.md, "Sessions").

    Incremental by device: a run redoes the whole history of every device that has new staged rows
    (stg_events.processed_at after this table's last run) or whose person changed (identity_map
    updated_at after it), widened to every device of the persons involved (old and new), so
    that person-level numbering downstream always sees whole persons. delete+insert on device_id
    replaces those devices' rows; nothing else is touched. -#}
{{ config(
    materialized='incremental',
    unique_key='device_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}

{%- set timeout = var('headwater_session_timeout_seconds', 1800) | float %}

with
{%- if is_incremental() %}
last_run as (
  select {{ hw_last_processed(this) }} as last_processed_at
),

touched_devices as (
  select distinct device_id
  from {{ ref('stg_events') }}
  where processed_at > (select last_processed_at from last_run)
  union
  select alias as device_id
  from {{ ref('identity_map') }}
  where updated_at > (select last_processed_at from last_run)
),

touched_persons as (
  -- the persons these devices belong to now ...
  select identity.person_id
  from {{ ref('identity_map') }} as identity
  join touched_devices on touched_devices.device_id = identity.alias
  union
  -- ... and belonged to at the last run
  select existing.person_id
  from {{ this }} as existing
  join touched_devices on touched_devices.device_id = existing.device_id
),

batch_devices as (
  select device_id from touched_devices
  union
  select identity.alias as device_id
  from {{ ref('identity_map') }} as identity
  join touched_persons on touched_persons.person_id = identity.person_id
),

staged as (
  select stg.*
  from {{ ref('stg_events') }} as stg
  join batch_devices on batch_devices.device_id = stg.device_id
),
{%- else %}
{#- not materialized: read three times, and a materialised copy would be every staged row, all columns #}
staged as not materialized (
  select * from {{ ref('stg_events') }}
),
{%- endif %}

{#- Sessions are cut on a narrow projection (ids and times only): window passes over the full
    40-column rows sort and spill every string; here the wide columns meet the session numbers once,
    in a hash join on message_id at the end. -#}
keys as (
  select message_id, device_id, ts, client_session_id
  from staged
  where device_id is not null
),

with_starts as (
  select
    message_id,
    device_id,
    row_number() over device_order as device_rn,
    case
      when lag(ts) over device_order is null then 1
      when {{ hw_epoch('ts') }} - {{ hw_epoch('lag(ts) over device_order') }} > {{ timeout }} then 1
      when client_session_id is not null and lag(client_session_id) over device_order is not null
           and client_session_id <> lag(client_session_id) over device_order then 1
      else 0
    end as starts_session
  from keys
  window device_order as (partition by device_id order by ts, message_id)
),

with_index as (
  select
    message_id,
    device_id,
    device_rn,
    starts_session,
    sum(starts_session) over (partition by device_id order by device_rn
                              rows between unbounded preceding and current row) as session_index
  from with_starts
),

{#- One row per session: its first event, where the session id, the place of the first event in the
    device's order (event_index is counted from it) and the traffic source come from. -#}
session_starts as (
  select
    device_id,
    session_index,
    device_rn as start_rn,
    message_id as first_message_id,
    md5(device_id || '-' || message_id) as session_id
  from with_index
  where starts_session = 1
),

first_events as (
  select
    session_starts.session_id,
    {{ hw_session_source('f.utm_source', 'f.utm_medium', 'f.gclid', 'f.referrer_host', 'f.page_url') }} as source,
    {{ hw_session_medium('f.utm_source', 'f.utm_medium', 'f.gclid', 'f.referrer_host', 'f.page_url', hw_source_category('referrer_category')) }} as medium,
    f.utm_campaign as campaign
  from session_starts
  join staged as f on f.message_id = session_starts.first_message_id
  {{ hw_source_category_joins('f.referrer_host', 'referrer_category') }}
),

session_channels as (
  select
    session_id,
    {{ hw_channel('first_events.source', 'first_events.medium', 'first_events.campaign', hw_source_category('source_category')) }} as channel
  from first_events
  {{ hw_source_category_joins('first_events.source', 'source_category') }}
),

event_sessions as (
  select
    with_index.message_id,
    session_starts.session_id,
    with_index.session_index,
    with_index.device_rn - session_starts.start_rn + 1 as event_index,
    session_channels.channel
  from with_index
  join session_starts
    on session_starts.device_id = with_index.device_id
   and session_starts.session_index = with_index.session_index
  join session_channels on session_channels.session_id = session_starts.session_id
)

select
  s.message_id,
  s.event_type,
  s.event_name,
  s.event_table,
  s.anonymous_id,
  s.user_id,
  s.device_id,
  s.previous_id,
  s.ts,
  s.received_at,
  s.loaded_at,
  s.client_session_id,
  s.page_url,
  s.page_path,
  s.page_title,
  s.page_search,
  s.referrer,
  s.referrer_host,
  s.screen_name,
  s.utm_source,
  s.utm_medium,
  s.utm_campaign,
  s.utm_term,
  s.utm_content,
  s.gclid,
  s.library_name,
  s.os_name,
  s.device_type,
  s.device_category,
  s.user_agent,
  s.screen_width,
  s.screen_height,
  s.locale,
  s.is_conversion,
  s.revenue,
  s.order_id,
  s.currency,
  coalesce(by_anonymous.person_id, by_user.person_id, s.device_id) as person_id,
  {{ hw_person_key('coalesce(by_anonymous.person_id, by_user.person_id, s.device_id)') }} as person_key,
  e.session_id,
  cast(e.session_index as bigint) as session_index,
  cast(e.event_index as bigint) as event_index,
  e.channel,
  {{ hw_run_ts() }} as processed_at
from staged as s
join event_sessions as e on e.message_id = s.message_id
left join {{ ref('identity_map') }} as by_anonymous
  on by_anonymous.alias = s.anonymous_id and by_anonymous.alias_type = 'anonymous_id'
left join {{ ref('identity_map') }} as by_user
  on s.anonymous_id is null and by_user.alias = s.user_id and by_user.alias_type = 'user_id'
