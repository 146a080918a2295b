{#- Person-level tables (attribution) redone for the persons a run touched, not rebuilt whole.

    Which persons: every person with a session rebuilt since the table's last run (sessions.processed_at
    after its own newest processed_at). events_sessionized redoes every device of the persons involved
    in a change, before and after it, and sessions follows it, so a person whose events, devices or
    identity changed always has rebuilt sessions, unless the change left them with none at all. Those
    leave rows that point at a conversion now owned by someone else (or gone), or a person without any
    session: hw_person_orphans_delete removes them in a pre-hook, since delete+insert on person_id
    only replaces persons that still have rows to write. Person-level results here depend only on the
    person's own sessions and conversions, so the table equals a full rebuild. -#}

{#- SQL selecting the person_ids to recompute (a subquery body). -#}
{#- A table built before it was incremental has no processed_at yet: every person is redone once. -#}
{% macro hw_person_batch(relation) -%}
{%- set stamped = 'processed_at' in hw_column_names(relation) if execute else false %}
select distinct s.person_id
from {{ ref('sessions') }} as s
where s.person_id is not null
{%- if stamped %}
  and s.processed_at > coalesce((select max(done.processed_at) from {{ relation }} as done),
                                cast('1970-01-01 00:00:00+00' as {{ hw_timestamptz() }}))
{%- endif %}
{%- endmacro %}

{#- Pre-hook: delete every row of the persons that have a row whose conversion now belongs to another
    person or no longer exists, and with `check_sessionless` (attribution_paths: non-converting paths
    carry no conversion) of the persons left without any session. Nothing on a first build or a
    full refresh. Persons deleted here who still have sessions are in hw_person_batch, so their
    rows are written again. -#}
{% macro hw_person_orphans_delete(check_sessionless=false) -%}
  {%- if execute and is_incremental() -%}
delete from {{ this }}
where person_id in (
  select t.person_id
  from {{ this }} as t
  left join {{ ref('conversions') }} as c on c.conversion_id = t.conversion_id
  where t.conversion_id is not null and (c.conversion_id is null or c.person_id is distinct from t.person_id)
  {%- if check_sessionless %}
  union
  select t.person_id
  from {{ this }} as t
  where t.conversion_id is null
    and not exists (select 1 from {{ ref('sessions') }} as s where s.person_id = t.person_id)
  {%- endif %}
)
  {%- endif -%}
{%- endmacro %}
