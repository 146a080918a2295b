{#- Rule-based attribution: for each conversion and model, the share of the conversion each touch gets.

    Touches (attribution_touches) are first collapsed into an exposure path: a touch with the same
    (channel, campaign) as the touch just before it is dropped, so the run keeps its earliest touch
    and time (worked example A1: Email day 3, Email day 4 → one Email touch at day 3). Then, with
    n touches numbered k = 1..n by time:
      first_touch       k = 1 gets 1
      last_touch        k = n gets 1
      last_non_direct   the last touch whose channel is not Direct gets 1 (all Direct: k = n)
      linear            1/n each
      position_based    n = 1: 1; n = 2: 1/2 each; n >= 3: 0.4 to k = 1 and k = n, 0.2/(n - 2) to each other
      time_decay        w_k = 2^(-Δk / H), Δk = conversion time − touch time in days,
                        H = var('headwater_time_decay_half_life_days'); credit w_k / Σw
    Only touches with credit > 0 are written. revenue_credit = credit × the conversion's revenue.
    Incremental by person, like attribution_touches (macros/hw_person_batches.sql). -#}
-- depends_on: {{ ref('sessions') }}
-- depends_on: {{ ref('conversions') }}
{{ config(
    materialized='incremental',
    unique_key='person_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ hw_person_batch_delete() }}",
) }}

{%- set half_life_days = var('headwater_time_decay_half_life_days', 7) | float -%}

with
{%- if is_incremental() %}
batch as (
    {{ hw_person_batch(this) }}
),
{%- endif %}

touches as (
    select
        *,
        row_number() over (partition by conversion_id order by touch_ts, touch_session_id) as raw_index,
        lag(channel) over (partition by conversion_id order by touch_ts, touch_session_id) as prev_channel,
        lag(campaign) over (partition by conversion_id order by touch_ts, touch_session_id) as prev_campaign
    from {{ ref('attribution_touches') }}
    {%- if is_incremental() %}
    where person_id in (select person_id from batch)
    {%- endif %}
),

collapsed as (
    select *
    from touches
    where raw_index = 1
        or channel is distinct from prev_channel
        or campaign is distinct from prev_campaign
),

numbered as (
    select
        conversion_id,
        person_id,
        conversion_ts,
        revenue,
        touch_session_id,
        touch_ts,
        channel,
        source,
        medium,
        campaign,
        row_number() over (partition by conversion_id order by touch_ts, touch_session_id) as k,
        count(*) over (partition by conversion_id) as n,
        power(
            2.0,
            -1.0 * ({{ hw_marts_epoch_s('conversion_ts') }} - {{ hw_marts_epoch_s('touch_ts') }})
                / (86400.0 * {{ half_life_days }})
        ) as decay_weight
    from collapsed
),

scored as (
    select
        *,
        coalesce(
            max(case when channel <> 'Direct' then k end) over (partition by conversion_id),
            n
        ) as last_non_direct_k,
        sum(decay_weight) over (partition by conversion_id) as decay_weight_total
    from numbered
),

credits as (
    select *, 'first_touch' as model, case when k = 1 then 1.0 else 0.0 end as credit from scored
    union all
    select *, 'last_touch', case when k = n then 1.0 else 0.0 end from scored
    union all
    select *, 'last_non_direct', case when k = last_non_direct_k then 1.0 else 0.0 end from scored
    union all
    select *, 'linear', 1.0 / n from scored
    union all
    select *, 'time_decay', decay_weight / decay_weight_total from scored
    union all
    select
        *,
        'position_based',
        case
            when n = 1 then 1.0
            when n = 2 then 0.5
            when k = 1 or k = n then 0.4
            else 0.2 / (n - 2)
        end
    from scored
)

select
    conversion_id,
    person_id,
    conversion_ts,
    model,
    touch_session_id,
    touch_ts,
    k as touch_index,
    n as n_touches,
    channel,
    source,
    medium,
    campaign,
    cast(credit as double precision) as credit,
    cast(credit * revenue as double precision) as revenue_credit,
    {{ hw_run_ts() }} as processed_at
from credits
where credit > 0
