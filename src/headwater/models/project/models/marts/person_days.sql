{#- Per person and local day: device_days rolled up through the current identity_map. Rebuilt every
    run because a stitching change can move a device (and all its days) to another person. -#}
{{ config(materialized='table') }}

select
    coalesce(m.person_id, d.device_id) as person_id,
    d.activity_date,
    cast(sum(d.n_events) as bigint) as n_events,
    cast(sum(d.n_activity_events) as bigint) as n_activity_events,
    cast(sum(d.n_page_views) as bigint) as n_page_views,
    min(d.first_ts) as first_ts,
    max(d.last_ts) as last_ts,
    min(d.first_activity_ts) as first_activity_ts,
    max(d.last_activity_ts) as last_activity_ts
from {{ ref('device_days') }} as d
left join {{ ref('identity_map') }} as m
    on m.alias = d.device_id
    and m.alias_type = d.device_id_type
group by coalesce(m.person_id, d.device_id), d.activity_date
