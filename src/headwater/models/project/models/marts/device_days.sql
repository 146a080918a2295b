{#- Per device and local day activity counts: the one place the summary and profile layers scan the
    event stream. Person-independent on purpose (persons are joined later through identity_map), so
    a stitching change never changes a count here. Incremental: the devices events_sessionized redid
    since this table's last run (its processed_at, stamped on every row a run recomputes, including
    backfills and late events) get all their days recomputed (delete+insert on device_id). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='device_id',
    on_schema_change='append_new_columns',
) }}

with

{% if is_incremental() %}
changed_devices as (
    select distinct device_id
    from {{ ref('events_sessionized') }}
    where processed_at > (select max(processed_at) from {{ this }})
),

{% endif %}
events as (
    select
        e.device_id,
        case when e.anonymous_id is null then 'user_id' else 'anonymous_id' end as device_id_type,
        {{ hw_marts_local_date('e.ts') }} as activity_date,
        e.ts,
        e.processed_at,
        e.event_type
    from {{ ref('events_sessionized') }} as e
    {% if is_incremental() %}
    where e.device_id in (select device_id from changed_devices)
    {% endif %}
    {% if not is_incremental() %}
    where e.device_id is not null
    {% endif %}
)

select
    device_id,
    -- a device id is either an anonymous_id or (server-side events) a user_id; identity_map keys both
    max(device_id_type) as device_id_type,
    activity_date,
    count(*) as n_events,
    count(case when event_type in ('track', 'page', 'screen') then 1 end) as n_activity_events,
    count(case when event_type in ('page', 'screen') then 1 end) as n_page_views,
    min(ts) as first_ts,
    max(ts) as last_ts,
    min(case when event_type in ('track', 'page', 'screen') then ts end) as first_activity_ts,
    max(case when event_type in ('track', 'page', 'screen') then ts end) as last_activity_ts,
    max(processed_at) as processed_at
from events
group by device_id, activity_date
