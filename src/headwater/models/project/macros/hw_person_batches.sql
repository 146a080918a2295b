{#- Person-level tables (attribution) redone for the persons a run touched, not rebuilt whole.

    Which persons: every person with a session rebuilt since the table's last run (sessions.processed_at
    after the table's newest processed_at). events_sessionized redoes every device of the persons
    involved in a change, before and after it, and sessions follows it, so a person whose events,
    devices or identity changed has rebuilt sessions, unless the change left them with no session at
    all. A pre-hook deletes every row of those persons and of persons without any session; the model
    then inserts the batch's rows. Deleting up front matters: dbt's delete+insert only replaces the
    keys present in the new rows, so a batch person whose recomputed result is empty (say, left with
    server-side sessions only after a device moved to someone else) would keep stale rows. Attribution
    depends only on the person's own sessions and conversions, so the table equals a full rebuild. -#}

{#- The table's newest processed_at as a literal, read when the model is compiled, i.e. before the
    pre-hook deletes anything: the pre-hook and the model then agree on the batch. -#}
{% macro hw_person_watermark(relation) -%}
  {%- set found = none -%}
  {%- if execute and 'processed_at' in hw_column_names(relation) -%}
    {%- set found = run_query('select max(processed_at) from ' ~ relation).columns[0].values()[0] -%}
  {%- endif -%}
  {%- if found is none -%}
    cast('1970-01-01 00:00:00+00' as {{ hw_timestamptz() }})
  {%- else -%}
    cast('{{ found }}' as {{ hw_timestamptz() }})
  {%- endif -%}
{%- endmacro %}

{#- SQL selecting the person_ids to recompute (a subquery body). A table built before it carried
    processed_at has every person redone once. -#}
{% macro hw_person_batch(relation) -%}
select distinct s.person_id
from {{ ref('sessions') }} as s
where s.person_id is not null
  and s.processed_at > {{ hw_person_watermark(relation) }}
{%- endmacro %}

{#- Pre-hook: remove the batch's rows and those of persons left without any session (their person id
    vanished in a merge, or their devices all moved). Nothing on a first build or a full refresh. -#}
{% macro hw_person_batch_delete() -%}
  {%- if execute and is_incremental() -%}
delete from {{ this }}
where person_id in ({{ hw_person_batch(this) }})
   or person_id not in (select s.person_id from {{ ref('sessions') }} as s where s.person_id is not null)
  {%- endif -%}
{%- endmacro %}
