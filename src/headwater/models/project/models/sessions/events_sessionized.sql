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
staged as (
  select * from {{ ref('stg_events') }}
),
{%- endif %}

with_person as (
  select
    staged.*,
    coalesce(by_anonymous.person_id, by_user.person_id, staged.device_id) as person_id
  from staged
  left join {{ ref('identity_map') }} as by_anonymous
    on by_anonymous.alias = staged.anonymous_id and by_anonymous.alias_type = 'anonymous_id'
  left join {{ ref('identity_map') }} as by_user
    on staged.anonymous_id is null and by_user.alias = staged.user_id and by_user.alias_type = 'user_id'
  where staged.device_id is not null
),

with_previous as (
  select
    with_person.*,
    lag(ts) over device_order as previous_ts,
    lag(client_session_id) over device_order as previous_client_session_id
  from with_person
  window device_order as (partition by device_id order by ts, message_id)
),

with_starts as (
  select
    with_previous.*,
    case
      when previous_ts is null then 1
      when {{ hw_epoch('ts') }} - {{ hw_epoch('previous_ts') }} > {{ timeout }} then 1
      when client_session_id is not null and previous_client_session_id is not null
           and client_session_id <> previous_client_session_id then 1
      else 0
    end as starts_session
  from with_previous
),

with_index as (
  select
    with_starts.*,
    sum(starts_session) over (partition by device_id order by ts, message_id
                              rows between unbounded preceding and current row) as session_index
  from with_starts
),

numbered as (
  select
    with_index.*,
    row_number() over session_order as event_index,
    first_value(message_id) over session_order as first_message_id
  from with_index
  window session_order as (partition by device_id, session_index order by ts, message_id
                           rows between unbounded preceding and current row)
),

first_events as (
  select
    md5(device_id || '-' || first_message_id) as session_id,
    {{ hw_session_source('utm_source', 'utm_medium', 'gclid', 'referrer_host', 'page_url') }} as source,
    {{ hw_session_medium('utm_source', 'utm_medium', 'gclid', 'referrer_host', 'page_url', hw_source_category('referrer_category')) }} as medium,
    utm_campaign as campaign
  from numbered
  {{ hw_source_category_joins('numbered.referrer_host', 'referrer_category') }}
  where event_index = 1
),

session_channels as (
  select
    session_id,
    {{ hw_channel('first_events.source', 'first_events.medium', 'first_events.campaign', hw_source_category('source_category')) }} as channel
  from first_events
  {{ hw_source_category_joins('first_events.source', 'source_category') }}
)

select
  numbered.message_id,
  numbered.event_type,
  numbered.event_name,
  numbered.event_table,
  numbered.anonymous_id,
  numbered.user_id,
  numbered.device_id,
  numbered.previous_id,
  numbered.ts,
  numbered.received_at,
  numbered.loaded_at,
  numbered.client_session_id,
  numbered.page_url,
  numbered.page_path,
  numbered.page_title,
  numbered.page_search,
  numbered.referrer,
  numbered.referrer_host,
  numbered.screen_name,
  numbered.utm_source,
  numbered.utm_medium,
  numbered.utm_campaign,
  numbered.utm_term,
  numbered.utm_content,
  numbered.gclid,
  numbered.library_name,
  numbered.os_name,
  numbered.device_type,
  numbered.device_category,
  numbered.user_agent,
  numbered.screen_width,
  numbered.screen_height,
  numbered.locale,
  numbered.is_conversion,
  numbered.revenue,
  numbered.order_id,
  numbered.currency,
  numbered.person_id,
  md5(numbered.device_id || '-' || numbered.first_message_id) as session_id,
  cast(numbered.session_index as bigint) as session_index,
  cast(numbered.event_index as bigint) as event_index,
  session_channels.channel,
  {{ hw_run_ts() }} as processed_at
from numbered
join session_channels on session_channels.session_id = md5(numbered.device_id || '-' || numbered.first_message_id)
