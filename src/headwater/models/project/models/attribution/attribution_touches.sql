{#- Conversion × touch before any collapsing: the person's touches that started within the lookback
    window before the conversion (lookback_days before it, up to and including its time). A
    conversion with no such touch (e.g. sent server-side only) gets its own session as the single
    touch, so every conversion carries credit somewhere.

    Incremental by person (macros/hw_person_batches.sql): a run redoes the persons whose sessions
    were rebuilt since its last run (delete+insert on person_id). -#}
{{ config(
    materialized='incremental',
    unique_key='person_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ hw_person_batch_delete() }}",
) }}

{%- set lookback_days = var('headwater_attribution_lookback_days', 30) | int -%}

with
{%- if is_incremental() %}
batch as (
    {{ hw_person_batch(this) }}
),
{%- endif %}

conversions as (
    select conversion_id, person_id, session_id, ts as conversion_ts, coalesce(revenue, 0) as revenue
    from {{ ref('conversions') }}
    where person_id is not null
    {%- if is_incremental() %}
        and person_id in (select person_id from batch)
    {%- endif %}
),

in_window as (
    select
        c.conversion_id,
        c.person_id,
        c.conversion_ts,
        c.revenue,
        t.session_id as touch_session_id,
        t.ts as touch_ts,
        t.channel,
        t.source,
        t.medium,
        t.campaign
    from conversions as c
    inner join {{ ref('touchpoints') }} as t
        on t.person_id = c.person_id
        and t.ts <= c.conversion_ts
        and t.ts >= {{ dbt.dateadd('day', -1 * lookback_days, 'c.conversion_ts') }}
),

own_session as (
    select
        c.conversion_id,
        c.person_id,
        c.conversion_ts,
        c.revenue,
        s.session_id as touch_session_id,
        s.session_start as touch_ts,
        coalesce(s.channel, 'Unassigned') as channel,
        s.source,
        s.medium,
        s.utm_campaign as campaign
    from conversions as c
    inner join {{ ref('sessions') }} as s on s.session_id = c.session_id
    where not exists (select 1 from in_window as w where w.conversion_id = c.conversion_id)
)

select *, {{ hw_run_ts() }} as processed_at from in_window
union all
select *, {{ hw_run_ts() }} as processed_at from own_session
