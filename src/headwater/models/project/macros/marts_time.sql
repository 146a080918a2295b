{#- Time helpers of the summary, profile and attribution layers.

    Days are calendar days in var('headwater_timezone') (default UTC), so a dashboard's "day" is
    the same everywhere; the as-of date of profiles is pinned by var('headwater_as_of') in tests
    and backfills, else it is the run's start date, never the database clock, so one run is one
    as-of date even when it crosses midnight. -#}

{% macro hw_marts_timezone() -%}
    {{- return(var('headwater_timezone', 'UTC') or 'UTC') -}}
{%- endmacro %}

{% macro hw_marts_local_date(expr) -%}
    cast(({{ expr }}) at time zone '{{ hw_marts_timezone() }}' as date)
{%- endmacro %}

{% macro hw_marts_as_of_date() -%}
    {%- set pinned = var('headwater_as_of', '') -%}
    {%- if pinned -%}
        cast('{{ pinned }}' as date)
    {%- else -%}
        {{ hw_marts_local_date("cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S') ~ "+00' as " ~ hw_marts_timestamptz() ~ ")") }}
    {%- endif -%}
{%- endmacro %}

{% macro hw_marts_timestamptz() -%}
    {{- return(adapter.dispatch('hw_marts_timestamptz', 'headwater')()) -}}
{%- endmacro %}

{% macro default__hw_marts_timestamptz() -%}
    {{- return('timestamp with time zone') -}}
{%- endmacro %}

{#- Seconds since the epoch as a double: differences of two of these are exact durations on both
    engines (interval arithmetic differs between DuckDB and PostgreSQL). -#}
{% macro hw_marts_epoch_s(expr) -%}
    cast(extract(epoch from {{ expr }}) as double precision)
{%- endmacro %}

{#- Local calendar dates from `lo` to `hi` (both date expressions, inclusive), one row each as `day`,
    built from a lateral series over the bounds held in `bounds_relation`. -#}
{% macro hw_marts_day_spine(bounds_relation, lo, hi) -%}
    select cast(series.d as date) as day
    from {{ bounds_relation }} as b
    cross join generate_series(cast(b.{{ lo }} as timestamp), cast(b.{{ hi }} as timestamp), interval '1 day')
        as series(d)
    where b.{{ lo }} is not null
{%- endmacro %}

{#- This run's start as a timestamptz literal: stamped on rows an incremental model (re)computes, so
    the next run can tell what it already saw. -#}
{% macro hw_marts_run_ts() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as {{ hw_marts_timestamptz() }})
{%- endmacro %}

{#- The newest processed_at of the model being built (a very old time when it is empty). -#}
{% macro hw_marts_cursor() -%}
    (select coalesce(max(processed_at), cast('1900-01-01 00:00:00+00' as {{ hw_marts_timestamptz() }})) from {{ this }})
{%- endmacro %}
