{#- Sessions by local start date and the dashboard's dimensions.

    Incremental by date (delete+insert): a date is recomputed, from all its sessions, when a session
    touching it (any date from its start to its end, so that a session merged into an earlier one by
    a late event still frees its old date) was rebuilt upstream since this table's last run
    (sessions.processed_at). Stitching changes re-stamp every session of the persons involved
    upstream, so `users` (distinct persons) stays exact on past dates too. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='date',
    on_schema_change='append_new_columns',
) }}

with

{% if is_incremental() %}
changed_sessions as (
    select
        {{ hw_marts_local_date('session_start') }} as lo,
        {{ hw_marts_local_date('session_end') }} as hi
    from {{ ref('sessions') }}
    where processed_at > {{ hw_marts_cursor() }}
),

changed_ranges as (
    select distinct lo, hi from changed_sessions
),

changed_dates as (
    select distinct day as date from ({{ hw_marts_day_spine('changed_ranges', 'lo', 'hi') }}) as days
),

{% endif %}
sessions as (
    select
        {{ hw_marts_local_date('session_start') }} as date,
        coalesce(channel, 'Unassigned') as channel,
        concat(coalesce(source, '(direct)'), ' / ', coalesce(medium, '(none)')) as source_medium,
        referrer_host,
        coalesce(device_category, 'Other') as device_category,
        person_id,
        is_engaged,
        is_bounce,
        duration_s,
        n_page_views,
        processed_at
    from {{ ref('sessions') }}
    where not coalesce(is_server_only, false)
)

select
    date,
    channel,
    source_medium,
    referrer_host,
    device_category,
    count(*) as sessions,
    count(case when is_engaged then 1 end) as engaged_sessions,
    count(case when is_bounce then 1 end) as bounced_sessions,
    cast(count(case when is_bounce then 1 end) as double precision) / count(*) as bounce_rate,
    cast(sum(duration_s) as double precision) as total_duration_s,
    cast(sum(duration_s) as double precision) / count(*) as avg_session_duration_s,
    cast(sum(n_page_views) as bigint) as page_views,
    count(distinct person_id) as users,
    {{ hw_marts_run_ts() }} as processed_at
from sessions
{% if is_incremental() %}
where date in (select date from changed_dates)
{% endif %}
group by date, channel, source_medium, referrer_host, device_category
