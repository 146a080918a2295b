{#- Traffic source, medium and channel of a session, from its first event.

    Source/medium (GA4-like defaulting, first that applies):
      1. utm_source or utm_medium set: those (a missing one is '(not set)');
      2. a gclid on the landing URL: google / cpc (what Google Ads auto-tagging means);
      3. a referrer from another host: that host / 'organic' when the host is a search engine in
         source_categories, else 'referral';
      4. otherwise (direct) / (none).
    The channel is then the first rule of the channel_rules seed that matches (see docs/models.md). -#}

{% macro hw_has_external_referrer(referrer_host, page_url) -%}
({{ referrer_host }} is not null and {{ referrer_host }} <> coalesce({{ hw_url_host(page_url) }}, ''))
{%- endmacro %}

{% macro hw_session_source(utm_source, utm_medium, gclid, referrer_host, page_url) -%}
case
  when {{ utm_source }} is not null or {{ utm_medium }} is not null then coalesce({{ utm_source }}, '(not set)')
  when {{ gclid }} is not null then 'google'
  when {{ hw_has_external_referrer(referrer_host, page_url) }} then {{ referrer_host }}
  else '(direct)'
end
{%- endmacro %}

{#- `referrer_category` is the source_categories category of the referrer host (may be NULL). -#}
{% macro hw_session_medium(utm_source, utm_medium, gclid, referrer_host, page_url, referrer_category) -%}
case
  when {{ utm_source }} is not null or {{ utm_medium }} is not null then coalesce({{ utm_medium }}, '(not set)')
  when {{ gclid }} is not null then 'cpc'
  when {{ hw_has_external_referrer(referrer_host, page_url) }}
    then case when {{ referrer_category }} = 'search' then 'organic' else 'referral' end
  else '(none)'
end
{%- endmacro %}

{#- The key a source is looked up by in source_categories when it is not listed as is: the label
    before the public suffix ("google" for google.co.uk, "facebook" for l.facebook.com). -#}
{% macro hw_source_site(source) -%}
{{ hw_regex_extract(source, "'([a-z0-9-]+)\\.(?:(?:co|com|org|net|ac|gov|edu|ne|or)\\.)?[a-z]+$'") }}
{%- endmacro %}

{#- Category of `source` ('search', 'social', 'shopping', 'video', 'email' or NULL). `prefix` names two
    joins the caller adds with hw_source_category_joins. -#}
{% macro hw_source_category_joins(source, prefix) -%}
left join {{ ref('source_categories') }} as {{ prefix }}_exact
  on {{ prefix }}_exact.source = {{ source }}
left join {{ ref('source_categories') }} as {{ prefix }}_site
  on {{ prefix }}_site.source = {{ hw_source_site(source) }}
{%- endmacro %}
{% macro hw_source_category(prefix) -%}
coalesce({{ prefix }}_exact.category, {{ prefix }}_site.category)
{%- endmacro %}

{#- The channel CASE expression, generated from the channel_rules seed when the model runs. Rows with
    the same priority are alternatives (OR); within a row, every non-empty condition must hold (AND).
    Conditions: source_category equals, and source/medium/campaign regular expressions (lower case). -#}
{% macro hw_channel(source, medium, campaign, category) -%}
  {%- set rules = [] -%}
  {%- set rules_relation = ref('channel_rules') -%}
  {%- if execute -%}
    {%- set result = run_query("select priority, channel, source_category, source_regex, medium_regex, campaign_regex from "
                               ~ rules_relation ~ " order by priority") -%}
    {%- set rules = result.rows -%}
  {%- endif -%}
  {%- set fields = {
      'source': "coalesce(lower(" ~ source ~ "), '')",
      'medium': "coalesce(lower(" ~ medium ~ "), '')",
      'campaign': "coalesce(lower(" ~ campaign ~ "), '')"} -%}
case
  {%- for group in rules | groupby(0) %}
  when {% for rule in group.list -%}
    {%- set conditions = [] -%}
    {%- if rule[2] -%}{%- do conditions.append("coalesce(" ~ category ~ ", '') = " ~ hw_literal(rule[2] | lower)) -%}{%- endif -%}
    {%- if rule[3] -%}{%- do conditions.append(hw_regex_match(fields['source'], hw_literal(rule[3]))) -%}{%- endif -%}
    {%- if rule[4] -%}{%- do conditions.append(hw_regex_match(fields['medium'], hw_literal(rule[4]))) -%}{%- endif -%}
    {%- if rule[5] -%}{%- do conditions.append(hw_regex_match(fields['campaign'], hw_literal(rule[5]))) -%}{%- endif -%}
    ({{ conditions | join(' and ') if conditions else 'true' }}){{ ' or ' if not loop.last }}
  {%- endfor %} then {{ hw_literal(group.list[0][1]) }}
  {%- endfor %}
  else 'Unassigned'
end
{%- endmacro %}
