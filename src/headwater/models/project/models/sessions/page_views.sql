{#- One row per page or screen view, with its place in the session and time on page (the next view's
    time minus this one's: RudderStack sends no page pings, so the last view of a session has none).
    Incremental like sessions: devices redone in events_sessionized since the last run. -#}
{{ config(
    materialized='incremental',
    unique_key='device_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}

with views as (
  select
    message_id, event_type, session_id, device_id, person_id, ts, page_url, page_path, page_title,
    screen_name, referrer, event_index, processed_at
  from {{ ref('events_sessionized') }}
  where event_type in ('page', 'screen')
  {%- if is_incremental() %}
    and processed_at > {{ hw_last_processed(this) }}
  {%- endif %}
),

ordered as (
  select
    views.*,
    row_number() over session_order as page_view_index,
    lead(ts) over session_order as next_ts
  from views
  window session_order as (partition by session_id order by event_index)
)

select
  message_id as page_view_id,
  event_type,
  session_id,
  device_id,
  person_id,
  ts,
  page_url,
  page_path,
  page_title,
  screen_name,
  referrer,
  cast(page_view_index as bigint) as page_view_index,
  cast({{ hw_epoch('next_ts') }} - {{ hw_epoch('ts') }} as {{ hw_double() }}) as time_on_page_s,
  page_view_index = 1 as is_landing,
  next_ts is null as is_exit,
  processed_at
from ordered
