{#- Device category (Desktop | Mobile | Tablet | Other), first rule that matches wins:
    1. Tablet: the device type or model says tablet/iPad, or the user agent names an iPad, a tablet,
       a Kindle/Silk, or is Android without "mobile" (Android tablets drop that token).
    2. Mobile: the device type or OS is a phone platform (iOS, Android, ...), or the user agent
       carries "mobi", iPhone, iPod, Android, Windows Phone, BlackBerry or Opera Mini.
    3. Desktop: the user agent or OS names Windows, macOS, X11/Linux or Chrome OS.
    4. Other: nothing to go by (server-side events, TVs, consoles, bots without a known token).
    Inputs are raw columns; they are lower-cased here. An iPad in "desktop mode" sends a Mac user
    agent and counts as Desktop: nothing in the event tells them apart. -#}
{% macro hw_device_category(device_type, device_model, os_name, user_agent) -%}
case
  when {{ hw_regex_match("lower(coalesce(" ~ device_type ~ ", '') || ' ' || coalesce(" ~ device_model ~ ", ''))", "'(tablet|ipad)'") }}
    or {{ hw_regex_match("lower(coalesce(" ~ user_agent ~ ", ''))", "'(ipad|tablet|kindle|silk/|playbook)'") }}
    or ({{ hw_regex_match("lower(coalesce(" ~ user_agent ~ ", ''))", "'android'") }}
        and not {{ hw_regex_match("lower(coalesce(" ~ user_agent ~ ", ''))", "'mobi'") }})
    or lower(coalesce({{ os_name }}, '')) = 'ipados'
    then 'Tablet'
  when {{ hw_regex_match("lower(coalesce(" ~ device_type ~ ", '') || ' ' || coalesce(" ~ os_name ~ ", ''))", "'(mobile|phone|ios|android|watchos)'") }}
    or {{ hw_regex_match("lower(coalesce(" ~ user_agent ~ ", ''))", "'(mobi|iphone|ipod|android|windows phone|blackberry|opera mini)'") }}
    then 'Mobile'
  when {{ hw_regex_match("lower(coalesce(" ~ user_agent ~ ", '') || ' ' || coalesce(" ~ os_name ~ ", ''))", "'(windows|macintosh|mac os|macos|x11|linux|cros|chrome os|ubuntu)'") }}
    then 'Desktop'
  else 'Other'
end
{%- endmacro %}
