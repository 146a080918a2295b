{#- One row per person as of one date (var('headwater_as_of'), else the run's date in the project time
    zone): identity, engagement, commerce, acquisition, RFM and lifecycle. Rebuilt every run from
    small per-person inputs (person_days, sessions, conversions) so stitching changes apply to all
    history; only events on or before the as-of date count, which also makes past as-of dates
    reproducible for user_features_daily backfills.

    Lifecycle state (first match wins, days counted as as-of date − local date):
      new      first seen less than 7 days ago (as_of − first_seen_date < 7)
      active   seen less than 7 days ago
      dormant  last seen 7 to 30 days ago
      churned  last seen more than 30 days ago (= is_churned_30)
    RFM over persons with ≥ 1 order: R = days_since_last_order, F = orders, M = revenue, each scored
    1..5 with ntile(5) over the sorted values (R descending so the most recent scores 5, F and M
    ascending), ties broken by person_id so every run gives the same scores (M is compared at 6
    decimals: a sum of doubles may differ in its last bit between runs, which would flip ties). -#}
{{ config(materialized='table') }}

{%- set cart_event = var('headwater_cart_event', 'Product Added') -%}
{%- set cart_table = var('headwater_cart_event_table', 'product_added') -%}

with as_of as (
    select {{ hw_marts_as_of_date() }} as as_of_date
),

identities as (
    select
        person_id,
        count(case when alias_type = 'anonymous_id' then 1 end) as n_anonymous_ids
    from {{ ref('identity_map') }}
    group by person_id
),

latest_user_id as (
    select person_id, alias as user_id
    from (
        select
            person_id,
            alias,
            row_number() over (partition by person_id order by last_seen_at desc, alias desc) as rank_in_person
        from {{ ref('identity_map') }}
        where alias_type = 'user_id'
    ) as ranked
    where rank_in_person = 1
),

days as (
    select d.*
    from {{ ref('person_days') }} as d
    cross join as_of
    where d.activity_date <= as_of.as_of_date
),

engagement as (
    select
        d.person_id,
        coalesce(min(d.first_activity_ts), min(d.first_ts)) as first_seen_at,
        coalesce(max(d.last_activity_ts), max(d.last_ts)) as last_seen_at,
        cast(sum(d.n_activity_events) as bigint) as events,
        cast(sum(d.n_page_views) as bigint) as page_views,
        count(case when d.n_activity_events > 0 then 1 end) as active_days,
        count(case when d.n_activity_events > 0 and as_of.as_of_date - d.activity_date < 7 then 1 end)
            as active_days_7,
        count(case when d.n_activity_events > 0 and as_of.as_of_date - d.activity_date < 30 then 1 end)
            as active_days_30
    from days as d
    cross join as_of
    group by d.person_id
),

client_sessions as (
    select s.*
    from {{ ref('sessions') }} as s
    cross join as_of
    where not coalesce(s.is_server_only, false)
        and {{ hw_marts_local_date('s.session_start') }} <= as_of.as_of_date
),

ranked_sessions as (
    select
        person_id,
        channel,
        source,
        medium,
        utm_campaign,
        landing_path,
        -- one sort gives both ends: the last session is the one whose rank equals the person's count
        row_number() over person_sessions as first_rank,
        count(*) over (person_sessions rows between unbounded preceding and unbounded following) as n_sessions
    from client_sessions
    window person_sessions as (partition by person_id order by session_start, session_id)
),

session_counts as (
    select person_id, count(*) as sessions from client_sessions group by person_id
),

orders as (
    select c.*
    from {{ ref('conversions') }} as c
    cross join as_of
    where {{ hw_marts_local_date('c.ts') }} <= as_of.as_of_date
),

order_stats as (
    select
        person_id,
        count(*) as orders,
        cast(sum(coalesce(revenue, 0)) as double precision) as revenue,
        cast(percentile_cont(0.5) within group (order by coalesce(revenue, 0)) as double precision)
            as median_order_value,
        cast(max(coalesce(revenue, 0)) as double precision) as max_order_value,
        max(ts) as last_order_at
    from orders
    group by person_id
),

last_order as (
    select person_id, cast(coalesce(revenue, 0) as double precision) as last_order_value
    from (
        select
            person_id,
            revenue,
            row_number() over (partition by person_id order by ts desc, conversion_id desc) as rank_in_person
        from orders
    ) as ranked
    where rank_in_person = 1
),

cart_adds as (
    select
        e.person_id,
        coalesce(ids.cart_id, e.session_id) as cart_key,
        e.ts
    from {{ ref('events_sessionized') }} as e
    cross join as_of
    left join ({{ hw_marts_cart_ids(cart_table) }}) as ids on ids.message_id = e.message_id
    where e.event_type = 'track'
        and e.event_name = '{{ cart_event }}'
        and {{ hw_marts_local_date('e.ts') }} <= as_of.as_of_date
),

carts as (
    select person_id, cart_key, max(ts) as last_add_at
    from cart_adds
    group by person_id, cart_key
),

cart_stats as (
    select
        carts.person_id,
        count(*) as carts,
        count(case when o.last_order_at is null or o.last_order_at < carts.last_add_at then 1 end)
            as abandoned_carts
    from carts
    left join order_stats as o on o.person_id = carts.person_id
    group by carts.person_id
),

traits_raw as (
    select
        coalesce(by_user.person_id, by_anonymous.person_id) as person_id,
        t.ts,
        t.email,
        t.name
    from ({{ hw_marts_identify_traits() }}) as t
    left join {{ ref('identity_map') }} as by_user
        on by_user.alias = t.user_id and by_user.alias_type = 'user_id'
    left join {{ ref('identity_map') }} as by_anonymous
        on by_anonymous.alias = t.anonymous_id and by_anonymous.alias_type = 'anonymous_id'
),

latest_email as (
    select person_id, email
    from (
        select person_id, email, row_number() over (partition by person_id order by ts desc, email) as r
        from traits_raw
        where email is not null and person_id is not null
    ) as ranked
    where r = 1
),

latest_name as (
    select person_id, name
    from (
        select person_id, name, row_number() over (partition by person_id order by ts desc, name) as r
        from traits_raw
        where name is not null and person_id is not null
    ) as ranked
    where r = 1
),

persons as (
    select person_id from identities
    union
    select person_id from engagement
),

profiles as (
    select
        p.person_id,
        {{ hw_person_key('p.person_id') }} as person_key,
        u.user_id,
        coalesce(i.n_anonymous_ids, 0) as n_anonymous_ids,
        em.email,
        nm.name,
        e.first_seen_at,
        e.last_seen_at,
        as_of.as_of_date - {{ hw_marts_local_date('e.first_seen_at') }} as days_since_first_seen,
        as_of.as_of_date - {{ hw_marts_local_date('e.last_seen_at') }} as days_since_last_seen,
        coalesce(sc.sessions, 0) as sessions,
        coalesce(e.events, 0) as events,
        coalesce(e.page_views, 0) as page_views,
        coalesce(e.active_days, 0) as active_days,
        coalesce(e.active_days_7, 0) as active_days_7,
        coalesce(e.active_days_30, 0) as active_days_30,
        coalesce(o.orders, 0) as orders,
        coalesce(o.revenue, 0) as revenue,
        case when o.orders > 0 then o.revenue / o.orders end as avg_order_value,
        o.median_order_value,
        o.max_order_value,
        lo.last_order_value,
        o.last_order_at,
        as_of.as_of_date - {{ hw_marts_local_date('o.last_order_at') }} as days_since_last_order,
        coalesce(cs.carts, 0) as carts,
        coalesce(cs.abandoned_carts, 0) as abandoned_carts,
        fs.channel as first_channel,
        fs.source as first_source,
        fs.medium as first_medium,
        fs.utm_campaign as first_campaign,
        fs.landing_path as first_landing_path,
        ls.channel as last_channel,
        as_of.as_of_date
    from persons as p
    cross join as_of
    left join identities as i on i.person_id = p.person_id
    left join latest_user_id as u on u.person_id = p.person_id
    left join latest_email as em on em.person_id = p.person_id
    left join latest_name as nm on nm.person_id = p.person_id
    left join engagement as e on e.person_id = p.person_id
    left join session_counts as sc on sc.person_id = p.person_id
    left join order_stats as o on o.person_id = p.person_id
    left join last_order as lo on lo.person_id = p.person_id
    left join cart_stats as cs on cs.person_id = p.person_id
    left join ranked_sessions as fs on fs.person_id = p.person_id and fs.first_rank = 1
    left join ranked_sessions as ls on ls.person_id = p.person_id and ls.first_rank = ls.n_sessions
),

rfm as (
    select
        person_id,
        ntile(5) over (order by days_since_last_order desc, person_id) as r_score,
        ntile(5) over (order by orders, person_id) as f_score,
        ntile(5) over (order by cast(revenue as decimal(38, 6)), person_id) as m_score
    from profiles
    where orders > 0
)

select
    p.*,
    rfm.r_score,
    rfm.f_score,
    rfm.m_score,
    case
        when rfm.r_score is null then null
        when rfm.r_score >= 4 and rfm.f_score >= 4 then 'Champions'
        when rfm.r_score >= 3 and rfm.f_score >= 3 then 'Loyal'
        when rfm.r_score >= 4 then 'Promising'
        when rfm.r_score <= 2 and rfm.f_score >= 3 then 'At Risk'
        when rfm.r_score <= 2 then 'Hibernating'
        else 'Needs Attention'
    end as rfm_segment,
    case
        when rfm.r_score is not null
            then concat(cast(rfm.r_score as {{ dbt.type_string() }}), cast(rfm.f_score as {{ dbt.type_string() }}),
                cast(rfm.m_score as {{ dbt.type_string() }}))
    end as rfm_code,
    case
        when p.last_seen_at is null then null
        when p.days_since_first_seen < 7 then 'new'
        when p.days_since_last_seen < 7 then 'active'
        when p.days_since_last_seen <= 30 then 'dormant'
        else 'churned'
    end as lifecycle_state,
    case when p.last_seen_at is null then null when p.days_since_last_seen > 30 then 1 else 0 end as is_churned_30
from profiles as p
left join rfm on rfm.person_id = p.person_id
