{#- Dialect differences between DuckDB and PostgreSQL, behind adapter.dispatch so another adapter
    can add its own `<adapter>__hw_*` version without touching the models. -#}

{#- The type every event time is stored as (both engines: timestamp with time zone). -#}
{% macro hw_timestamptz() -%}{{ return(adapter.dispatch('hw_timestamptz', 'headwater')()) }}{%- endmacro %}
{% macro default__hw_timestamptz() -%}timestamp with time zone{%- endmacro %}

{% macro hw_double() -%}{{ return(adapter.dispatch('hw_double', 'headwater')()) }}{%- endmacro %}
{% macro default__hw_double() -%}double precision{%- endmacro %}

{#- True when `expr` matches the regular expression `pattern` (a SQL string literal, already quoted).
    Patterns stay inside the common subset of RE2 (DuckDB) and PostgreSQL's ARE. -#}
{% macro hw_regex_match(expr, pattern) -%}
  {{ return(adapter.dispatch('hw_regex_match', 'headwater')(expr, pattern)) }}
{%- endmacro %}
{% macro default__hw_regex_match(expr, pattern) -%}(({{ expr }}) ~ {{ pattern }}){%- endmacro %}
{% macro duckdb__hw_regex_match(expr, pattern) -%}regexp_matches({{ expr }}, {{ pattern }}){%- endmacro %}

{#- The first capture group of `pattern` in `expr`, NULL when it does not match or captures ''. -#}
{% macro hw_regex_extract(expr, pattern) -%}
  {{ return(adapter.dispatch('hw_regex_extract', 'headwater')(expr, pattern)) }}
{%- endmacro %}
{% macro default__hw_regex_extract(expr, pattern) -%}nullif((regexp_match({{ expr }}, {{ pattern }}))[1], ''){%- endmacro %}
{% macro duckdb__hw_regex_extract(expr, pattern) -%}nullif(regexp_extract({{ expr }}, {{ pattern }}, 1), ''){%- endmacro %}

{#- Seconds since the Unix epoch as a double, fractions kept (durations are differences of these). -#}
{% macro hw_epoch(expr) -%}{{ return(adapter.dispatch('hw_epoch', 'headwater')(expr)) }}{%- endmacro %}
{% macro default__hw_epoch(expr) -%}cast(extract(epoch from {{ expr }}) as double precision){%- endmacro %}
{% macro duckdb__hw_epoch(expr) -%}epoch({{ expr }}){%- endmacro %}

{#- A person's integer key: 63 bits of the MD5 of the person id. The analytics API partitions and
    sorts a person's events by it, which costs a fraction of doing so by the text id; MD5 (not the
    engine's own hash) keeps it the same across engine versions, so rows written by different runs
    agree. Two persons sharing a key would need a 63-bit collision (about 1 in 10^6 at 10M persons);
    the test person_key_distinct checks for it. -#}
{% macro hw_person_key(expr) -%}{{ return(adapter.dispatch('hw_person_key', 'headwater')(expr)) }}{%- endmacro %}
{% macro default__hw_person_key(expr) -%}
(('x' || substr(md5({{ expr }}), 1, 16))::bit(64)::bigint & 9223372036854775807)
{%- endmacro %}
{% macro duckdb__hw_person_key(expr) -%}cast(md5_number({{ expr }}) >> 65 as bigint){%- endmacro %}

{#- `expr` shifted by a whole number of hours (negative: earlier). -#}
{% macro hw_add_hours(expr, hours) -%}
  {{ return(adapter.dispatch('hw_add_hours', 'headwater')(expr, hours)) }}
{%- endmacro %}
{% macro default__hw_add_hours(expr, hours) -%}(({{ expr }}) + interval '1 hour' * ({{ hours }})){%- endmacro %}
{% macro duckdb__hw_add_hours(expr, hours) -%}(({{ expr }}) + to_hours(cast({{ hours }} as bigint))){%- endmacro %}

{#- The time this dbt invocation started, as a timestamptz literal: every row a run (re)computes carries
    it as `processed_at`, which is how the next incremental model finds what changed upstream. -#}
{% macro hw_run_ts() -%}
cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as {{ hw_timestamptz() }})
{%- endmacro %}

{#- A string literal for SQL (single quotes doubled). -#}
{% macro hw_literal(value) -%}'{{ value | string | replace("'", "''") }}'{%- endmacro %}
