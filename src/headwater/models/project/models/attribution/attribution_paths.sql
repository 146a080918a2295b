{#- Channel paths for the data-driven (Markov) model the analytics API computes at query time.

    Converting paths: one per conversion, its touches (attribution_touches) with consecutive repeats
    of the same channel collapsed, ending at the conversion. Non-converting paths: one per person
    who has touches after their last conversion (or never converted): those touches within the
    lookback window before the last of them, collapsed the same way, ending at that last touch.
    Incremental by person, like attribution_touches (macros/hw_person_batches.sql); a person left
    without any session loses their non-converting path in the pre-hook. -#}
-- depends_on: {{ ref('sessions') }}
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

converting_touches as (
    select
        conversion_id as path_id,
        person_id,
        conversion_id,
        conversion_ts as path_end_ts,
        true as converted,
        revenue,
        touch_session_id,
        touch_ts,
        channel
    from {{ ref('attribution_touches') }}
    {%- if is_incremental() %}
    where person_id in (select person_id from batch)
    {%- endif %}
),

last_conversion as (
    select person_id, max(ts) as last_conversion_ts
    from {{ ref('conversions') }}
    where person_id is not null
    {%- if is_incremental() %}
        and person_id in (select person_id from batch)
    {%- endif %}
    group by person_id
),

open_touches as (
    select t.person_id, t.session_id, t.ts, t.channel
    from {{ ref('touchpoints') }} as t
    left join last_conversion as c on c.person_id = t.person_id
    where (c.last_conversion_ts is null or t.ts > c.last_conversion_ts)
    {%- if is_incremental() %}
        and t.person_id in (select person_id from batch)
    {%- endif %}
),

open_path_end as (
    select person_id, max(ts) as path_end_ts from open_touches group by person_id
),

non_converting_touches as (
    select
        t.person_id as path_id,
        t.person_id,
        cast(null as {{ dbt.type_string() }}) as conversion_id,
        e.path_end_ts,
        false as converted,
        cast(0 as double precision) as revenue,
        t.session_id as touch_session_id,
        t.ts as touch_ts,
        t.channel
    from open_touches as t
    inner join open_path_end as e on e.person_id = t.person_id
    where t.ts >= {{ dbt.dateadd('day', -1 * lookback_days, 'e.path_end_ts') }}
),

all_touches as (
    select * from converting_touches
    union all
    select * from non_converting_touches
),

marked as (
    select
        *,
        row_number() over (partition by converted, path_id order by touch_ts, touch_session_id) as raw_index,
        lag(channel) over (partition by converted, path_id order by touch_ts, touch_session_id) as prev_channel
    from all_touches
),

collapsed as (
    select * from marked where raw_index = 1 or channel is distinct from prev_channel
)

select
    person_id,
    conversion_id,
    path_end_ts,
    {{ dbt.listagg('channel', "' > '", 'order by touch_ts, touch_session_id') }} as path,
    count(*) as n_touches,
    converted,
    cast(max(revenue) as double precision) as revenue,
    {{ hw_run_ts() }} as processed_at
from collapsed
group by converted, path_id, person_id, conversion_id, path_end_ts
