{#- The composite grains of the incremental tables hold (an incremental bug would show as duplicates). -#}
select 'device_days' as model, device_id as k1, cast(activity_date as {{ dbt.type_string() }}) as k2,
    cast(null as {{ dbt.type_string() }}) as k3, count(*) as n
from {{ ref('device_days') }}
group by device_id, activity_date
having count(*) > 1
union all
select 'user_features_daily', person_id, cast(as_of as {{ dbt.type_string() }}), feature_name, count(*)
from {{ ref('user_features_daily') }}
group by person_id, as_of, feature_name
having count(*) > 1
