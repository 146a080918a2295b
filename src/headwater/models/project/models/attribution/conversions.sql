{#- One row per conversion event (track events named in var('headwater_conversion_events'), flagged
    upstream as is_conversion), with the person and session it belongs to now. -#}
{{ config(materialized='table') }}

select
    message_id as conversion_id,
    person_id,
    session_id,
    device_id,
    ts,
    event_name,
    cast(revenue as double precision) as revenue,
    order_id,
    currency
from {{ ref('events_sessionized') }}
where is_conversion
