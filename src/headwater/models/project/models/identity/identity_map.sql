{#- Every anonymous_id and user_id seen, and the person it belongs to (docs/models.md, "Identity").

    - An anonymous_id belongs to the person of the latest user_id seen with it on any event
      (identifies included); one never seen with a user_id is its own person.
    - user_ids only merge through `alias` calls (previous_id -> user_id): the connected components of
      the alias edges, found by a recursive walk over those edges only (a small set).
    - person_id of a component = its earliest-seen user_id (ties: the smaller id).

    Rebuilt every run. updated_at keeps the run at which the alias's person_id last changed (read from
    the previous build of this table), so events_sessionized can redo only the devices it concerns. -#}
{{ config(materialized='table') }}

{%- set old = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) if execute else none %}

with recursive

{# One pass over the events: every (anonymous_id, user_id) combination seen, with its first and last
    time. Everything per alias below is a small aggregate of these rows (far fewer than the events),
    instead of a separate scan and hash aggregate of the whole event stream for each. #}
pairs as (
  select anonymous_id, user_id, min(ts) as first_ts, max(ts) as last_ts
  from {{ ref('stg_events') }}
  where anonymous_id is not null or user_id is not null
  group by anonymous_id, user_id
),

alias_calls as (
  select previous_id, user_id, ts
  from {{ ref('stg_events') }}
  where event_type = 'alias' and previous_id is not null
),

anonymous_seen as (
  select anonymous_id as alias, min(first_ts) as first_seen_at, max(last_ts) as last_seen_at
  from pairs
  where anonymous_id is not null
  group by anonymous_id
),

user_seen as (
  select alias, min(first_seen_at) as first_seen_at, max(last_seen_at) as last_seen_at
  from (
    select user_id as alias, min(first_ts) as first_seen_at, max(last_ts) as last_seen_at
    from pairs
    where user_id is not null
    group by user_id
    union all
    -- a previous_id of an alias call is a user id even if no event ever carried it as user_id
    select previous_id as alias, min(ts) as first_seen_at, max(ts) as last_seen_at
    from alias_calls
    group by previous_id
  ) as seen
  group by alias
),

anonymous_users as (
  select anonymous_id, user_id, last_ts
  from pairs
  where anonymous_id is not null and user_id is not null
),

latest_user as (
  select anonymous_id, user_id
  from (
    select anonymous_id, user_id,
           row_number() over (partition by anonymous_id order by last_ts desc, user_id desc) as recency
    from anonymous_users
  ) as ranked
  where recency = 1
),

alias_edges as (
  select distinct previous_id as node_a, user_id as node_b
  from alias_calls
  where user_id is not null and previous_id <> user_id
),

undirected as (
  select node_a, node_b from alias_edges
  union
  select node_b, node_a from alias_edges
),

{#- reach(node, member): member is in node's component. UNION (not ALL) ends the walk on cycles. -#}
reach (node, member) as (
  select node_a, node_a from undirected
  union
  select reach.node, undirected.node_b
  from reach
  join undirected on undirected.node_a = reach.member
),

component_person as (
  select node, person_id
  from (
    select reach.node, reach.member as person_id,
           row_number() over (partition by reach.node
                              order by user_seen.first_seen_at, reach.member) as earliest
    from reach
    join user_seen on user_seen.alias = reach.member
  ) as ranked
  where earliest = 1
),

users as (
  select user_seen.alias, 'user_id' as alias_type,
         coalesce(component_person.person_id, user_seen.alias) as person_id,
         user_seen.first_seen_at, user_seen.last_seen_at
  from user_seen
  left join component_person on component_person.node = user_seen.alias
),

anonymous as (
  select anonymous_seen.alias, 'anonymous_id' as alias_type,
         coalesce(latest_person.person_id, aliased.person_id, anonymous_seen.alias) as person_id,
         anonymous_seen.first_seen_at, anonymous_seen.last_seen_at
  from anonymous_seen
  left join latest_user on latest_user.anonymous_id = anonymous_seen.alias
  left join users as latest_person on latest_person.alias = latest_user.user_id
  -- an anonymous_id named as previous_id of an alias call joins that component
  left join users as aliased on aliased.alias = anonymous_seen.alias
),

current_map as (
  select * from users
  union all
  select * from anonymous
)

select
  current_map.alias,
  current_map.alias_type,
  current_map.person_id,
  current_map.first_seen_at,
  current_map.last_seen_at,
  {%- if old is not none and not flags.FULL_REFRESH %}
  case when previous.person_id = current_map.person_id then previous.updated_at
       else {{ hw_run_ts() }} end as updated_at
from current_map
left join {{ old }} as previous
  on previous.alias = current_map.alias and previous.alias_type = current_map.alias_type
  {%- else %}
  {{ hw_run_ts() }} as updated_at
from current_map
  {%- endif %}
