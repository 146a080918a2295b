{#- One row per event from tracks, pages, screens, identifies, aliases and groups, in one shape.

    Incremental: a run reads raw rows loaded (uuid_ts) since the newest staged load minus the trailing
    window, keeps the earliest received row of each message_id, and inserts only rows that are new or
    received earlier than the staged copy (so the re-read window rewrites nothing). With the backfill
    vars set, raw rows whose `timestamp` falls in [start, end) are re-staged too. Every inserted row
    carries this run's processed_at, which is how events_sessionized finds the devices to redo. -#}
{{ config(
    materialized='incremental',
    unique_key='message_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}

{%- set ts = hw_timestamptz() -%}
{%- set dbl = hw_double() -%}
{%- set columns = [
    ('message_id', 'varchar'), ('event_type', 'varchar'), ('event_name', 'varchar'), ('event_table', 'varchar'),
    ('anonymous_id', 'varchar'), ('user_id', 'varchar'), ('previous_id', 'varchar'),
    ('ts', ts), ('received_at', ts), ('loaded_at', ts),
    ('client_session_id', 'varchar'), ('page_url', 'varchar'), ('page_path', 'varchar'),
    ('page_title', 'varchar'), ('page_search', 'varchar'), ('referrer', 'varchar'), ('screen_name', 'varchar'),
    ('utm_source', 'varchar'), ('utm_medium', 'varchar'), ('utm_campaign', 'varchar'),
    ('utm_term', 'varchar'), ('utm_content', 'varchar'),
    ('library_name', 'varchar'), ('os_name', 'varchar'), ('device_type', 'varchar'), ('device_model', 'varchar'),
    ('user_agent', 'varchar'), ('screen_width', 'bigint'), ('screen_height', 'bigint'), ('locale', 'varchar'),
] -%}
{%- set tables = [('tracks', 'track'), ('pages', 'page'), ('screens', 'screen'),
                  ('identifies', 'identify'), ('aliases', 'alias'), ('groups', 'group')] -%}
{%- set backfill = hw_backfill_range() -%}
{%- set cursor = none -%}
{%- if is_incremental() -%}
  {%- set cursor = hw_scalar("select max(loaded_at) from " ~ this) -%}
{%- endif -%}



{#- raw_union is read three times (duplicate ids, unique rows, duplicated rows): not materialized, so
    each read is a scan of the raw tables rather than a full copy of them. #}
with raw_union as not materialized (
{%- set selects = [] -%}
{%- for table, kind in tables -%}
  {%- set relation = hw_source_relation(table) -%}
  {%- if relation is not none -%}
    {%- set n = hw_column_names(relation) -%}
    {%- set exprs = {
        'message_id': hw_col(n, 'id', 'varchar'),
        'event_type': "'" ~ kind ~ "'",
        'event_name': hw_col(n, 'event_text', 'varchar') if kind == 'track' else "'" ~ kind ~ "'",
        'event_table': hw_col(n, 'event', 'varchar') if kind == 'track' else 'null',
        'anonymous_id': "nullif(" ~ hw_col(n, 'anonymous_id', 'varchar') ~ ", '')",
        'user_id': "nullif(" ~ hw_col(n, 'user_id', 'varchar') ~ ", '')",
        'previous_id': "nullif(" ~ hw_col(n, 'previous_id', 'varchar') ~ ", '')" if kind == 'alias' else 'null',
        'ts': hw_col(n, 'timestamp', ts),
        'received_at': hw_col(n, 'received_at', ts),
        'loaded_at': hw_col(n, 'uuid_ts', ts),
        'client_session_id': hw_col(n, 'context_session_id', 'varchar'),
        'page_url': hw_first_col(n, ['url', 'context_page_url'] if kind == 'page' else ['context_page_url'], 'varchar'),
        'page_path': hw_first_col(n, ['path', 'context_page_path'] if kind == 'page' else ['context_page_path'], 'varchar'),
        'page_title': hw_first_col(n, ['title', 'context_page_title'] if kind == 'page' else ['context_page_title'], 'varchar'),
        'page_search': hw_first_col(n, ['search', 'context_page_search'] if kind == 'page' else ['context_page_search'], 'varchar'),
        'referrer': hw_first_col(n, ['referrer', 'context_page_referrer'] if kind == 'page' else ['context_page_referrer'], 'varchar'),
        'screen_name': hw_col(n, 'name', 'varchar') if kind == 'screen' else 'null',
        'utm_source': hw_col(n, 'context_campaign_source', 'varchar'),
        'utm_medium': hw_col(n, 'context_campaign_medium', 'varchar'),
        'utm_campaign': hw_col(n, 'context_campaign_name', 'varchar'),
        'utm_term': hw_col(n, 'context_campaign_term', 'varchar'),
        'utm_content': hw_col(n, 'context_campaign_content', 'varchar'),
        'library_name': hw_col(n, 'context_library_name', 'varchar'),
        'os_name': hw_col(n, 'context_os_name', 'varchar'),
        'device_type': hw_col(n, 'context_device_type', 'varchar'),
        'device_model': hw_col(n, 'context_device_model', 'varchar'),
        'user_agent': hw_col(n, 'context_user_agent', 'varchar'),
        'screen_width': hw_col(n, 'context_screen_width', 'bigint'),
        'screen_height': hw_col(n, 'context_screen_height', 'bigint'),
        'locale': hw_col(n, 'context_locale', 'varchar'),
    } -%}
    {%- set sql -%}
  select
    {%- for name, type in columns %}
    cast({{ exprs[name] }} as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
  from {{ relation }} as r
  {{ hw_raw_window_filter(n, cursor, backfill) }}
    {%- endset -%}
    {%- do selects.append(sql) -%}
  {%- endif -%}
{%- endfor %}
{%- if selects | length == 0 %}
  {{ hw_empty_select(columns) }}
{%- else %}
  {{ selects | join('\n  union all\n') }}
{%- endif %}
),

{#- Dedup keeps the earliest received row of each message_id. Duplicates are rare, so only the rows
    of duplicated ids go through the window; ranking every row would sort all the wide rows. -#}
duplicated as (
  select message_id
  from raw_union
  where message_id is not null
  group by message_id
  having count(*) > 1
),

deduped as (
  select raw_union.*
  from raw_union
  left join duplicated on duplicated.message_id = raw_union.message_id
  where raw_union.message_id is not null and duplicated.message_id is null
  union all
  select
    {%- for name, type in columns %}
    {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
  from (
    select raw_union.*,
           row_number() over (partition by raw_union.message_id
                              order by received_at, loaded_at, event_type, event_name) as dup_rank
    from raw_union
    join duplicated on duplicated.message_id = raw_union.message_id
  ) as ranked
  where dup_rank = 1
),

{#- Revenue, order id and currency of conversions, from the per-event tables of the conversion events. -#}
conversion_details as (
{%- set conv_selects = [] -%}
{%- for event_name in var('headwater_conversion_events', []) -%}
  {%- set relation = hw_source_relation(hw_event_table_name(event_name)) -%}
  {%- if relation is not none -%}
    {%- set n = hw_column_names(relation) -%}
    {%- set sql -%}
  select {{ hw_col(n, 'id', 'varchar') }} as message_id,
         {{ hw_first_col(n, var('headwater_revenue_properties', []), dbl) }} as revenue,
         {{ hw_first_col(n, ['order_id'], 'varchar') }} as order_id,
         {{ hw_first_col(n, ['currency'], 'varchar') }} as currency,
         {{ hw_col(n, 'received_at', ts) }} as received_at
  from {{ relation }} as r
  {{ hw_raw_window_filter(n, cursor, backfill) }}
    {%- endset -%}
    {%- do conv_selects.append(sql) -%}
  {%- endif -%}
{%- endfor %}
{%- if conv_selects | length == 0 %}
  {{ hw_empty_select([('message_id', 'varchar'), ('revenue', dbl), ('order_id', 'varchar'),
                      ('currency', 'varchar'), ('received_at', ts)]) }}
{%- else %}
  {{ conv_selects | join('\n  union all\n') }}
{%- endif %}
),

conversion_first as (
  select message_id, revenue, order_id, currency
  from (
    select conversion_details.*,
           row_number() over (partition by message_id order by received_at) as dup_rank
    from conversion_details
  ) as ranked_conversions
  where dup_rank = 1
),

{%- set conversion_names = var('headwater_conversion_events', []) %}

staged as (
  select
    d.message_id,
    d.event_type,
    d.event_name,
    d.event_table,
    d.anonymous_id,
    d.user_id,
    coalesce(d.anonymous_id, d.user_id) as device_id,
    d.previous_id,
    d.ts,
    d.received_at,
    d.loaded_at,
    nullif(d.client_session_id, '') as client_session_id,
    d.page_url,
    coalesce(d.page_path, {{ hw_url_path('d.page_url') }}) as page_path,
    d.page_title,
    d.page_search,
    case when d.referrer in ('', '$direct') then null else d.referrer end as referrer,
    case when d.referrer in ('', '$direct') then null else {{ hw_url_host('d.referrer') }} end as referrer_host,
    d.screen_name,
    lower(coalesce(nullif(d.utm_source, ''), {{ hw_url_param('d.page_url', 'utm_source') }})) as utm_source,
    lower(coalesce(nullif(d.utm_medium, ''), {{ hw_url_param('d.page_url', 'utm_medium') }})) as utm_medium,
    coalesce(nullif(d.utm_campaign, ''), {{ hw_url_param('d.page_url', 'utm_campaign') }}) as utm_campaign,
    coalesce(nullif(d.utm_term, ''), {{ hw_url_param('d.page_url', 'utm_term') }}) as utm_term,
    coalesce(nullif(d.utm_content, ''), {{ hw_url_param('d.page_url', 'utm_content') }}) as utm_content,
    {{ hw_url_param('d.page_url', 'gclid') }} as gclid,
    d.library_name,
    d.os_name,
    d.device_type,
    {{ hw_device_category('d.device_type', 'd.device_model', 'd.os_name', 'd.user_agent') }} as device_category,
    d.user_agent,
    d.screen_width,
    d.screen_height,
    d.locale,
    {%- if conversion_names | length > 0 %}
    (d.event_type = 'track' and d.event_name in (
      {%- for name in conversion_names %}{{ hw_literal(name) }}{{ ", " if not loop.last }}{% endfor %})) as is_conversion,
    {%- else %}
    false as is_conversion,
    {%- endif %}
    c.revenue,
    c.order_id,
    c.currency,
    {{ hw_run_ts() }} as processed_at
  from deduped as d
  left join conversion_first as c
    on c.message_id = d.message_id and d.event_type = 'track'
)

select staged.*
from staged
{%- if is_incremental() %}
{#- Only the staged copies of this batch's ids: joining all of them would build a hash table of every
    staged message_id (10M rows at 10M events) instead of the batch's (~1%). #}
left join (
  select message_id, received_at
  from {{ this }}
  where message_id in (select message_id from staged)
) as existing
  on existing.message_id = staged.message_id
where existing.message_id is null
   or staged.received_at < existing.received_at
  {%- if backfill is not none %}
   or (staged.ts >= cast('{{ backfill[0] }}' as {{ ts }}) and staged.ts < cast('{{ backfill[1] }}' as {{ ts }}))
  {%- endif %}
{%- endif %}
