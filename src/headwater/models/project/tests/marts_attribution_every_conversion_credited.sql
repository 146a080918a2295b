{#- Every conversion with a person is credited by all six rule models (a conversion without any touch
    falls back to its own session, so none may be missing). -#}
select c.conversion_id, count(distinct a.model) as n_models
from {{ ref('conversions') }} as c
left join {{ ref('attribution_credits') }} as a on a.conversion_id = c.conversion_id
where c.person_id is not null and c.session_id is not null
group by c.conversion_id
having count(distinct a.model) <> 6
