{#- Daily active persons by the channel that first brought the person (acquisition view of DAU): the
    channel of the person's first session, preferring sessions with a client (server-side-only
    sessions have no referrer or campaign and would all read Direct). -#}
{{ config(materialized='table') }}

with ranked_sessions as (
    select
        person_id,
        channel,
        row_number() over (
            partition by person_id
            order by case when coalesce(is_server_only, false) then 1 else 0 end, session_start, session_id
        ) as rank_in_person
    from {{ ref('sessions') }}
),

first_touch as (
    select person_id, channel from ranked_sessions where rank_in_person = 1
)

select
    d.activity_date as date,
    coalesce(f.channel, 'Unassigned') as first_touch_channel,
    count(*) as dau
from {{ ref('person_days') }} as d
left join first_touch as f on f.person_id = d.person_id
where d.n_activity_events > 0
group by d.activity_date, coalesce(f.channel, 'Unassigned')
