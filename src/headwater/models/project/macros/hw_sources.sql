{#- Reading RudderStack tables that may not exist yet (a warehouse that never received a screen or
    an alias) or may lack columns (the loader only adds a column once some event carried a value).
    Models never name a raw column directly: they ask for it through hw_col, which yields a typed
    NULL when the column is absent, so the same SQL runs on any warehouse. -#}

{#- The relation of raw table `identifier` in the source schema, or none when it does not exist. -#}
{% macro hw_source_relation(identifier) -%}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set database = var('headwater_source_database', '') or target.database -%}
  {{ return(adapter.get_relation(database=database, schema=var('headwater_source_schema', 'events'),
                                 identifier=identifier)) }}
{%- endmacro %}

{#- Lower-cased column names of `relation` (empty list for none). -#}
{% macro hw_column_names(relation) -%}
  {%- if relation is none -%}{{ return([]) }}{%- endif -%}
  {%- set names = [] -%}
  {%- for column in adapter.get_columns_in_relation(relation) -%}
    {%- do names.append(column.name | lower) -%}
  {%- endfor -%}
  {{ return(names) }}
{%- endmacro %}

{#- `alias.column` cast to `type` when `column` is one of `names`, else a NULL of that type. -#}
{% macro hw_col(names, column, type, alias='r') -%}
  {%- if column | lower in names -%}
    cast({{ alias }}.{{ adapter.quote(column | lower) }} as {{ type }})
  {%- else -%}
    cast(null as {{ type }})
  {%- endif -%}
{%- endmacro %}

{#- The first of `columns` present in `names` (as hw_col), coalesced in order; typed NULL when none is. -#}
{% macro hw_first_col(names, columns, type, alias='r') -%}
  {%- set present = [] -%}
  {%- for column in columns if column | lower in names -%}
    {%- do present.append(hw_col(names, column, type, alias)) -%}
  {%- endfor -%}
  {%- if present | length == 0 -%}cast(null as {{ type }})
  {%- elif present | length == 1 -%}{{ present[0] }}
  {%- else -%}coalesce({{ present | join(', ') }}){%- endif -%}
{%- endmacro %}

{#- RudderStack's table name for a track event name ("Order Completed" -> order_completed): runs of
    ASCII letters and digits joined by `_`, camelCase split, lower case; a leading digit gets `_`. -#}
{% macro hw_event_table_name(event_name) -%}
  {%- set re = modules.re -%}
  {%- set words = [] -%}
  {%- for run in re.findall('[A-Za-z0-9]+', event_name) -%}
    {%- for word in re.findall('[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+', run) -%}
      {%- do words.append(word | lower) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- set name = words | join('_') -%}
  {%- if name[:1] in '0123456789' and name -%}{%- set name = '_' ~ name -%}{%- endif -%}
  {{ return(name[:63]) }}
{%- endmacro %}

{#- A select of `columns` (list of (name, type)) that returns no rows: what a missing table reads as. -#}
{% macro hw_empty_select(columns) -%}
select
  {%- for name, type in columns %}
  cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
  {%- endfor %}
where 1 = 0
{%- endmacro %}

{#- Incremental bookkeeping shared by the layers. -#}
{% macro hw_backfill_range() -%}
  {%- set start = var('headwater_backfill_start', '') -%}
  {%- set end = var('headwater_backfill_end', '') -%}
  {%- if start and end -%}{{ return([start | string, end | string]) }}{%- endif -%}
  {{ return(none) }}
{%- endmacro %}

{#- A single value of `sql` (first column of the first row), fetched when the model runs. -#}
{% macro hw_scalar(sql) -%}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set result = run_query(sql) -%}
  {%- if result.rows | length == 0 -%}{{ return(none) }}{%- endif -%}
  {{ return(result.rows[0][0]) }}
{%- endmacro %}

{#- The WHERE clause choosing which raw rows an incremental run reads: those loaded (uuid_ts) since
    `cursor` minus the trailing window, and with backfill set those whose `timestamp` is in range.
    Nothing (all rows) on a full build. The cursor is a literal so DuckDB can skip row groups by
    their min/max uuid_ts. -#}
{% macro hw_raw_window_filter(names, cursor, backfill) -%}
  {%- set ts = hw_timestamptz() -%}
  {%- set parts = [] -%}
  {%- if cursor is not none -%}
    {%- do parts.append(hw_col(names, 'uuid_ts', ts) ~ " >= " ~ hw_add_hours("cast('" ~ cursor ~ "' as " ~ ts ~ ")",
                        -1 * var('headwater_trailing_window_hours', 3) | int)) -%}
    {%- if 'uuid_ts' not in names -%}{%- do parts.append('true') -%}{%- endif -%}
  {%- endif -%}
  {%- if backfill is not none -%}
    {%- do parts.append("(" ~ hw_col(names, 'timestamp', ts) ~ " >= cast('" ~ backfill[0] ~ "' as " ~ ts ~ ") and "
                        ~ hw_col(names, 'timestamp', ts) ~ " < cast('" ~ backfill[1] ~ "' as " ~ ts ~ "))") -%}
  {%- endif -%}
  {%- if cursor is not none or backfill is not none -%}where {{ parts | join(' or ') }}{%- endif -%}
{%- endmacro %}

{#- The newest processed_at of `relation` (an incremental model's own table), or a time before any
    run when it is empty, so a first run that produced no rows does not stall the next ones. -#}
{% macro hw_last_processed(relation) -%}
coalesce((select max(processed_at) from {{ relation }}), cast('1970-01-01 00:00:00+00' as {{ hw_timestamptz() }}))
{%- endmacro %}
