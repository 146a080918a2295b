{#- Conversions and revenue by local date and the traffic source of the session holding the
    conversion (session scope, like GA4's session channel). Rebuilt each run for the same reason as
    daily_traffic: converting_users counts persons, which stitching can merge on past dates. -#}
{{ config(materialized='table') }}

select
    {{ hw_marts_local_date('c.ts') }} as date,
    coalesce(s.channel, 'Unassigned') as channel,
    coalesce(s.source, '(direct)') as source,
    coalesce(s.medium, '(none)') as medium,
    s.utm_campaign as campaign,
    count(*) as conversions,
    cast(sum(coalesce(c.revenue, 0)) as double precision) as revenue,
    count(distinct c.person_id) as converting_users
from {{ ref('conversions') }} as c
left join {{ ref('sessions') }} as s on s.session_id = c.session_id
group by
    {{ hw_marts_local_date('c.ts') }},
    coalesce(s.channel, 'Unassigned'),
    coalesce(s.source, '(direct)'),
    coalesce(s.medium, '(none)'),
    s.utm_campaign
