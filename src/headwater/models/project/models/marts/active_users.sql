{#- DAU, WAU and MAU per local date, exact distinct persons, in one pass over person-days.

    A person active on day a counts in the W-day window of every date d with a <= d < a + W. Taking the
    person's active days in order, day a "covers" [a, min(a + W, next active day)) — disjoint pieces
    whose union is the person's coverage — so the count of windows containing d is a running sum of
    +1 at each piece's start and -1 at its end, with no W-fold expansion of the data. -#}
{{ config(materialized='table') }}

with active as (
    select
        person_id,
        activity_date,
        lead(activity_date) over (partition by person_id order by activity_date) as next_active_date
    from {{ ref('person_days') }}
    where n_activity_events > 0
),

windows as (
    select 1 as width, 'dau' as metric
    union all select 7, 'wau'
    union all select 30, 'mau'
),

pieces as (
    select
        w.metric,
        a.activity_date as piece_start,
        case
            when a.next_active_date is not null and a.next_active_date < a.activity_date + w.width
                then a.next_active_date
            else a.activity_date + w.width
        end as piece_end
    from active as a
    cross join windows as w
),

deltas as (
    select metric, piece_start as day, 1 as delta from pieces
    union all
    select metric, piece_end as day, -1 as delta from pieces
),

daily_deltas as (
    select
        day,
        sum(case when metric = 'dau' then delta else 0 end) as d_dau,
        sum(case when metric = 'wau' then delta else 0 end) as d_wau,
        sum(case when metric = 'mau' then delta else 0 end) as d_mau
    from deltas
    group by day
),

bounds as (
    select min(activity_date) as lo, max(activity_date) as hi from active
),

spine as (
    {{ hw_marts_day_spine('bounds', 'lo', 'hi') }}
),

running as (
    select
        spine.day as date,
        sum(coalesce(d.d_dau, 0)) over (order by spine.day rows between unbounded preceding and current row) as dau,
        sum(coalesce(d.d_wau, 0)) over (order by spine.day rows between unbounded preceding and current row) as wau,
        sum(coalesce(d.d_mau, 0)) over (order by spine.day rows between unbounded preceding and current row) as mau
    from spine
    left join daily_deltas as d on d.day = spine.day
)

select
    date,
    cast(dau as bigint) as dau,
    cast(wau as bigint) as wau,
    cast(mau as bigint) as mau,
    case when mau > 0 then cast(dau as double precision) / mau end as dau_mau_ratio
from running
