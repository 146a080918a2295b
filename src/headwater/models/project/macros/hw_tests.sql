{#- Data tests of the incremental tables check only the rows this run (re)computed.

    dbt wraps the tested relation of every generic test in get_where_subquery (its `where` config);
    this project's version also honours `hw_this_run_only` (set in dbt_project.yml and schema.yml on
    tests of tables that carry processed_at): the test then reads `processed_at >= this run's start`.
    A full refresh stamps every row with the run's start, so it tests whole tables; an incremental
    run tests what it wrote instead of rescanning millions of unchanged rows every hour. When the
    project is used as a package, dbt keeps its own macro and the tests simply read everything. -#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- if config.get('hw_this_run_only', false) -%}
    {%- set this_run = 'processed_at >= ' ~ hw_run_ts() -%}
    {%- set where = '(' ~ where ~ ') and ' ~ this_run if where else this_run -%}
  {%- endif -%}
  {%- if where -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
  {%- else -%}
    {%- do return(relation) -%}
  {%- endif -%}
{%- endmacro %}
