{#- URL pieces by regular expression (neither engine offers a portable URL parser). Inputs are
    lower-cased first so hosts and parameter names compare case-insensitively. -#}

{#- Host of an absolute URL, lower case, without a leading `www.` and without port or credentials. -#}
{% macro hw_url_host(url) -%}
{{ hw_regex_extract("lower(" ~ url ~ ")", "'^[a-z][a-z0-9+.-]*://(?:[^/?#@]*@)?(?:www\\.)?([^/?#:]+)'") }}
{%- endmacro %}

{#- Path of an absolute URL ('/' when the URL has none); NULL for a NULL or relative URL. -#}
{% macro hw_url_path(url) -%}
case when {{ url }} is null then null
     when {{ hw_regex_match(url, "'^[A-Za-z][A-Za-z0-9+.-]*://'") }}
       then coalesce({{ hw_regex_extract(url, "'^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(/[^?#]*)'") }}, '/')
end
{%- endmacro %}

{#- Value of query parameter `name` (as written, not URL-decoded); the cheap LIKE guard spares the
    regular expression on the many URLs that do not carry the parameter. -#}
{% macro hw_url_param(url, name) -%}
case when {{ url }} like '%{{ name }}=%'
     then {{ hw_regex_extract(url, "'[?&]" ~ name ~ "=([^&#]*)'") }} end
{%- endmacro %}
