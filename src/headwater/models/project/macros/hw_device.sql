{#- Device category (Desktop | Mobile | Tablet | Other), first rule that matches wins:
    1. Tablet: the device type or model says tablet/iPad, or the user agent names an iPad, a tablet,
       a Kindle/Silk, or is Android without "mobi" (Android tablets drop that token).
    2. Mobile: the device type or OS is a phone platform (iOS, Android, ...), or the user agent
       carries "mobi", iPhone, iPod, Android, Windows Phone, BlackBerry or Opera Mini.
    3. Desktop: the user agent or OS names Windows, macOS, X11/Linux or Chrome OS.
    4. Other: nothing to go by (server-side events, TVs, consoles, bots without a known token).
    Inputs are raw columns; they are lower-cased here. An iPad in "desktop mode" sends a Mac user
    agent and counts as Desktop: nothing in the event tells them apart.
    Every rule is "contains one of these words", written as LIKE tests rather than regular
    expressions: on a million user agents a LIKE is several times cheaper than a regex match. -#}
{% macro hw_contains_any(expr, words) -%}
({% for word in words %}{{ expr }} like '%{{ word }}%'{{ ' or ' if not loop.last }}{% endfor %})
{%- endmacro %}

{% macro hw_device_category(device_type, device_model, os_name, user_agent) -%}
  {%- set kind = "lower(coalesce(" ~ device_type ~ ", '') || ' ' || coalesce(" ~ device_model ~ ", ''))" -%}
  {%- set platform = "lower(coalesce(" ~ device_type ~ ", '') || ' ' || coalesce(" ~ os_name ~ ", ''))" -%}
  {%- set agent = "lower(coalesce(" ~ user_agent ~ ", ''))" -%}
  {%- set agent_os = "lower(coalesce(" ~ user_agent ~ ", '') || ' ' || coalesce(" ~ os_name ~ ", ''))" -%}
case
  when {{ hw_contains_any(kind, ['tablet', 'ipad']) }}
    or {{ hw_contains_any(agent, ['ipad', 'tablet', 'kindle', 'silk/', 'playbook']) }}
    or ({{ agent }} like '%android%' and {{ agent }} not like '%mobi%')
    or lower(coalesce({{ os_name }}, '')) = 'ipados'
    then 'Tablet'
  when {{ hw_contains_any(platform, ['mobile', 'phone', 'ios', 'android', 'watchos']) }}
    or {{ hw_contains_any(agent, ['mobi', 'iphone', 'ipod', 'android', 'windows phone', 'blackberry', 'opera mini']) }}
    then 'Mobile'
  when {{ hw_contains_any(agent_os, ['windows', 'macintosh', 'mac os', 'macos', 'x11', 'linux', 'cros', 'chrome os', 'ubuntu']) }}
    then 'Desktop'
  else 'Other'
end
{%- endmacro %}
