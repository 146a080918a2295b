{#- The first five steps of each session that has page or screen views: a page's path (its URL when the
    path is unknown), a screen's name; a step repeating the one before it is dropped (a reload, or a
    view sent twice). n_steps and path count all steps, not just five. Incremental like sessions. -#}
{{ config(
    materialized='incremental',
    unique_key='device_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}

with views as (
  select
    session_id, device_id, person_id, event_index, processed_at,
    coalesce(
      case when event_type = 'screen' then screen_name else coalesce(page_path, page_url) end,
      '(unknown)') as step
  from {{ ref('events_sessionized') }}
  where event_type in ('page', 'screen')
  {%- if is_incremental() %}
    and processed_at > {{ hw_last_processed(this) }}
  {%- endif %}
),

compared as (
  select views.*, lag(step) over (partition by session_id order by event_index) as previous_step
  from views
),

steps as (
  select
    compared.*,
    row_number() over (partition by session_id order by event_index) as step_index
  from compared
  where previous_step is null or previous_step <> step
),

starts as (
  select session_id, session_start
  from {{ ref('sessions') }}
)

select
  steps.session_id,
  max(steps.device_id) as device_id,
  max(steps.person_id) as person_id,
  max(starts.session_start) as session_start,
  max(case when steps.step_index = 1 then steps.step end) as step_1,
  max(case when steps.step_index = 2 then steps.step end) as step_2,
  max(case when steps.step_index = 3 then steps.step end) as step_3,
  max(case when steps.step_index = 4 then steps.step end) as step_4,
  max(case when steps.step_index = 5 then steps.step end) as step_5,
  cast(count(*) as bigint) as n_steps,
  string_agg(steps.step, ' > ' order by steps.step_index) as path,
  max(steps.processed_at) as processed_at
from steps
left join starts on starts.session_id = steps.session_id
group by steps.session_id
