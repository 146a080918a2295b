{#- Optional raw columns the profile layer reads directly (traits from `identifies`, `cart_id` from the
    cart event's table). A warehouse may lack the table or the column (no identify ever sent, a cart
    event without cart_id): then these macros yield typed NULLs instead of failing the run. -#}

{% macro hw_marts_source_relation(identifier) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set database = var('headwater_source_database', '') or target.database -%}
    {%- set relation = adapter.get_relation(
        database=database, schema=var('headwater_source_schema', 'events'), identifier=identifier) -%}
    {{- return(relation) -}}
{%- endmacro %}

{% macro hw_marts_column_names(relation) -%}
    {%- if relation is none -%}{{ return([]) }}{%- endif -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do names.append(column.name | lower) -%}
    {%- endfor -%}
    {{- return(names) -}}
{%- endmacro %}

{#- coalesce() of the candidate columns that exist (in the order given), as varchar; NULL if none. -#}
{% macro hw_marts_first_column(names, candidates, alias='r') -%}
    {%- set present = [] -%}
    {%- for candidate in candidates -%}
        {%- if candidate in names -%}
            {%- do present.append('nullif(cast(' ~ alias ~ '.' ~ adapter.quote(candidate) ~ ' as ' ~ dbt.type_string() ~ "), '')") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if present | length == 0 -%}
        cast(null as {{ dbt.type_string() }})
    {%- elif present | length == 1 -%}
        {{ present[0] }}
    {%- else -%}
        coalesce({{ present | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{#- One row per identify: message id, ids, time and the email/name traits (typed NULLs when the
    warehouse has no identifies table or no such trait columns). -#}
{% macro hw_marts_identify_traits() -%}
    {%- set relation = hw_marts_source_relation('identifies') -%}
    {%- set names = hw_marts_column_names(relation) -%}
    {%- if relation is none or 'timestamp' not in names -%}
    select
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ hw_marts_timestamptz() }}) as ts,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as name
    where 1 = 0
    {%- else -%}
    {%- set full_name -%}
        {%- if 'first_name' in names and 'last_name' in names -%}
        nullif(trim(concat(coalesce(cast(r.first_name as {{ dbt.type_string() }}), ''), ' ',
            coalesce(cast(r.last_name as {{ dbt.type_string() }}), ''))), '')
        {%- elif 'context_traits_first_name' in names and 'context_traits_last_name' in names -%}
        nullif(trim(concat(coalesce(cast(r.context_traits_first_name as {{ dbt.type_string() }}), ''), ' ',
            coalesce(cast(r.context_traits_last_name as {{ dbt.type_string() }}), ''))), '')
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif -%}
    {%- endset -%}
    select
        {{ hw_marts_first_column(names, ['anonymous_id']) }} as anonymous_id,
        {{ hw_marts_first_column(names, ['user_id']) }} as user_id,
        r.{{ adapter.quote('timestamp') }} as ts,
        {{ hw_marts_first_column(names, ['email', 'context_traits_email']) }} as email,
        coalesce({{ hw_marts_first_column(names, ['name', 'context_traits_name']) }}, {{ full_name }}) as name
    from {{ relation }} as r
    {%- endif -%}
{%- endmacro %}

{#- message id → cart_id of the cart events' per-event table (no rows when it or the column is missing). -#}
{% macro hw_marts_cart_ids(event_table) -%}
    {%- set relation = hw_marts_source_relation(event_table) -%}
    {%- set names = hw_marts_column_names(relation) -%}
    {%- if relation is none or 'cart_id' not in names or 'id' not in names -%}
    select cast(null as {{ dbt.type_string() }}) as message_id, cast(null as {{ dbt.type_string() }}) as cart_id
    where 1 = 0
    {%- else -%}
    select cast(r.id as {{ dbt.type_string() }}) as message_id, {{ hw_marts_first_column(names, ['cart_id']) }} as cart_id
    from {{ relation }} as r
    {%- endif -%}
{%- endmacro %}
