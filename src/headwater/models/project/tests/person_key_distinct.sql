{#- No two persons share a person_key (macros/hw_dialect.sql, hw_person_key): the analytics API
    counts persons by it. A warning, not an error: a failing test in `dbt build` would skip every
    model downstream, and a collision (63 bits of MD5) is a statistical event the operator should
    hear about, not a reason to stop the pipeline. Only this run's rows are read. -#}
{{ config(severity='warn') }}

select person_key, count(distinct person_id) as persons
from {{ ref('events_sessionized') }}
where processed_at >= {{ hw_run_ts() }}
group by person_key
having count(distinct person_id) > 1
