{#- Marketing touches: one per session of a person, at the session's start, with the session's
    traffic source (GA4 session scope: the source at session start; intra-session source changes
    are not separate touches). Server-side-only sessions are not touches: they carry no referrer
    or campaign and would put a Direct touch right before most server-side conversions. A view:
    sessions already holds every column. -#}
{{ config(materialized='view') }}

select
    person_id,
    session_id,
    session_start as ts,
    coalesce(channel, 'Unassigned') as channel,
    source,
    medium,
    utm_campaign as campaign
from {{ ref('sessions') }}
where not coalesce(is_server_only, false)
    and person_id is not null
