{#- user_profiles in long form, one snapshot per as-of date, kept as history (delete+insert on as_of
    replaces one date and leaves the others alone; full_refresh is off so the nightly
    `--full-refresh` does not erase the history).

    A snapshot is written by the first run of its date, by every `--full-refresh` run (the nightly
    one) and whenever var('headwater_as_of') is set; the hourly incremental runs in between leave it
    alone, because rewriting every person's features every hour would cost more than all the other
    incremental work together. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='as_of',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}

{%- set numeric_features = [
    'n_anonymous_ids', 'days_since_first_seen', 'days_since_last_seen', 'sessions', 'events', 'page_views',
    'active_days', 'active_days_7', 'active_days_30', 'orders', 'revenue', 'avg_order_value',
    'median_order_value', 'max_order_value', 'last_order_value', 'days_since_last_order', 'carts',
    'abandoned_carts', 'r_score', 'f_score', 'm_score', 'is_churned_30',
] -%}
{%- set string_features = [
    'user_id', 'email', 'first_channel', 'first_source', 'first_medium', 'first_campaign',
    'first_landing_path', 'last_channel', 'rfm_segment', 'lifecycle_state',
] -%}

{%- set write_snapshot = (not is_incremental()) or flags.FULL_REFRESH or var('headwater_as_of', '') -%}
{%- if is_incremental() and not write_snapshot and execute -%}
    {%- set found = run_query('select count(*) from ' ~ this ~ ' where as_of = ' ~ hw_marts_as_of_date()) -%}
    {%- set write_snapshot = found.columns[0].values()[0] == 0 -%}
{%- endif %}

with snapshot as (
{%- for feature in numeric_features %}
select
    person_id,
    as_of_date as as_of,
    '{{ feature }}' as feature_name,
    'numeric' as feature_type,
    cast({{ feature }} as double precision) as value_numeric,
    cast(null as {{ dbt.type_string() }}) as value_string
from {{ ref('user_profiles') }}
where {{ feature }} is not null
union all
{%- endfor %}
{%- for feature in string_features %}
select
    person_id,
    as_of_date as as_of,
    '{{ feature }}' as feature_name,
    'string' as feature_type,
    cast(null as double precision) as value_numeric,
    cast({{ feature }} as {{ dbt.type_string() }}) as value_string
from {{ ref('user_profiles') }}
where {{ feature }} is not null
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
)

select snapshot.*, {{ hw_run_ts() }} as processed_at
from snapshot
{%- if not write_snapshot %}
where 1 = 0
{%- endif %}
