{#- The composite grains of the incremental tables hold (an incremental bug would show as duplicates).
    Only what this run could have duplicated is read: the devices device_days redid in this run (all
    of them on a full refresh) and the as-of dates user_features_daily wrote in this run (none on
    most hourly runs, when reading its processed_at costs nothing: every row group's newest time is
    older than the run). -#}
with redone_devices as (
    select distinct device_id
    from {{ ref('device_days') }}
    where processed_at >= {{ hw_run_ts() }}
)

select 'device_days' as model, d.device_id as k1, cast(d.activity_date as {{ dbt.type_string() }}) as k2,
    cast(null as {{ dbt.type_string() }}) as k3, count(*) as n
from {{ ref('device_days') }} as d
where d.device_id in (select device_id from redone_devices)
group by d.device_id, d.activity_date
having count(*) > 1
union all
select 'user_features_daily', person_id, cast(as_of as {{ dbt.type_string() }}), feature_name, count(*)
from {{ ref('user_features_daily') }}
where as_of in (select distinct as_of from {{ ref('user_features_daily') }} where processed_at >= {{ hw_run_ts() }})
group by person_id, as_of, feature_name
having count(*) > 1
