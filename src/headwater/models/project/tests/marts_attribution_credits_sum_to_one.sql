{#- Every conversion's credits add up to 1 in every model (within floating-point rounding). Returns the
    offending (conversion, model) pairs, so any row fails the test. -#}
select conversion_id, model, sum(credit) as total_credit
from {{ ref('attribution_credits') }}
group by conversion_id, model
having abs(sum(credit) - 1.0) > 1e-9
