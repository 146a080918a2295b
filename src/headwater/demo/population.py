"""Who visits the shop: people, their devices, their traits and how loyal they are.

A person is drawn from one seeded random generator of their own (`random.Random(f"{seed}:{index}")`),
so person 17 is the same whatever the event count asked for, and a larger run is a superset of a
smaller one's population. The mix is chosen so every later model has something to find: people who
stay anonymous, sign up later, arrive already logged in, use web and app, buy for a company (group
calls), carry a legacy id that an alias merges, and who stop coming back (churn).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from headwater.demo.catalogue import (
    CATEGORIES,
    COMPANIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    TRAFFIC_SOURCES,
    TrafficSource,
)

__all__ = ["Device", "Person", "Persona", "Platform", "make_person", "new_uuid"]

Platform = Literal["web", "android", "ios", "server"]
Persona = Literal["one_time", "casual", "regular", "loyal"]

# (persona, share, sessions low, sessions high, buy propensity, active days as a share of the window)
T = TypeVar("T")

_PERSONAS: tuple[tuple[Persona, float, int, int, float, float], ...] = (
    ("one_time", 0.34, 1, 1, 0.08, 0.0),
    ("casual", 0.38, 2, 3, 0.16, 0.45),
    ("regular", 0.2, 3, 6, 0.26, 0.8),
    ("loyal", 0.08, 6, 12, 0.36, 1.0),
)

# (locale, JS timezone label, IANA zone, UTC offset hours): offsets are fixed, DST is out of scope.
_PLACES: tuple[tuple[str, str, str, int], ...] = (
    ("en-US", "GMT-0500", "America/New_York", -5),
    ("en-US", "GMT-0800", "America/Los_Angeles", -8),
    ("en-GB", "GMT+0000", "Europe/London", 0),
    ("de-DE", "GMT+0100", "Europe/Berlin", 1),
    ("fr-FR", "GMT+0100", "Europe/Paris", 1),
    ("sv-SE", "GMT+0100", "Europe/Stockholm", 1),
    ("en-AU", "GMT+1000", "Australia/Sydney", 10),
    ("ja-JP", "GMT+0900", "Asia/Tokyo", 9),
)

_BROWSERS: tuple[tuple[str, int, int, float], ...] = (
    # user agent, screen width, height, density
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        1920,
        1080,
        1.0,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        1512,
        982,
        2.0,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 2560, 1440, 1.0),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        412,
        915,
        2.625,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        393,
        852,
        3.0,
    ),
)

_ANDROIDS: tuple[tuple[str, str, str, str, int, int, int], ...] = (
    # manufacturer, model, device name, os version, width, height, density (dpi)
    ("Google", "Pixel 8", "shiba", "14", 1080, 2400, 420),
    ("Google", "Pixel 7a", "lynx", "14", 1080, 2400, 420),
    ("samsung", "SM-S921B", "e1s", "14", 1080, 2340, 450),
    ("samsung", "SM-A546B", "a54x", "13", 1080, 2340, 450),
    ("OnePlus", "CPH2581", "OP5961L1", "14", 1240, 2772, 450),
)

_IPHONES: tuple[tuple[str, str, int, int, float], ...] = (
    # model identifier, os version, width, height, scale
    ("iPhone16,1", "18.1", 393, 852, 3.0),
    ("iPhone15,2", "17.6.1", 393, 852, 3.0),
    ("iPhone14,7", "18.0", 390, 844, 3.0),
    ("iPad13,18", "17.5", 820, 1180, 2.0),
)

_CARRIERS: tuple[str, ...] = ("Vodafone", "T-Mobile", "Orange", "Telstra", "AT&T", "Verizon", "O2", "docomo")


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID from the seeded generator: random-looking, yet the same on every run."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(slots=True)
class Device:
    """One SDK installation: a browser profile or an app install. Its anonymousId is what the SDK sends."""

    platform: Platform
    anonymous_id: str
    user_agent: str
    screen: dict[str, float | int]
    ip: str
    batching: bool = False  # web: JS SDK `queueOptions.batch`; mobile: gzip on
    gzip: bool = False
    model: tuple[str, ...] = ()
    app_version: str = "3.4.0"
    app_build: str = "340"
    carrier: str = ""
    wifi: bool = True
    locale: str = "en-US"
    tz_label: str = "GMT+0000"  # how the JS SDK writes the zone
    tz_name: str = "UTC"  # how the mobile SDKs write it
    # Mutable SDK state, as the SDK persists it between sessions:
    signed_in: bool = False
    user_id: str = ""
    installed: bool = False
    seen_referrer: str = ""
    traits: dict[str, Any] = field(default_factory=dict)  # what the SDK persisted from identify
    cart: list[tuple[str, int]] = field(default_factory=list)  # (product_id, quantity)
    cart_id: str = ""
    grouped: bool = False


@dataclass(slots=True)
class Person:
    """Ground truth for one human; `user_id` is their account id whether or not it ever reaches the wire."""

    index: int
    rng: random.Random
    user_id: str
    first_name: str
    last_name: str
    email: str
    persona: Persona
    sessions: int
    buy_propensity: float
    active_share: float
    locale: str
    tz_label: str
    tz_name: str
    utc_offset: int
    favourite: tuple[str, ...]
    source: TrafficSource
    devices: list[Device]
    existing_account: bool  # created before the window: logs in, never signs up
    will_sign_up: float  # chance per session of creating an account when not yet known
    plan: str
    created_at_ms: int | None
    company: tuple[str, str, str, int] | None  # group id, name, industry, employees
    legacy_id: str  # non-empty: the account first uses this id, then an alias moves it to user_id
    first_day: int
    server_orders: bool  # this account's orders are confirmed by the backend, not the client
    current_id: str = ""  # the id the account uses on the wire now (legacy id until the alias)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def known(self) -> bool:
        return self.created_at_ms is not None


def _weighted(rng: random.Random, items: tuple[T, ...], weights: tuple[float, ...]) -> T:
    return rng.choices(items, weights)[0]


def _web_device(rng: random.Random, index: int) -> Device:
    agent, width, height, density = rng.choice(_BROWSERS)
    return Device(
        platform="web",
        anonymous_id=new_uuid(rng),
        user_agent=agent,
        screen={
            "width": width,
            "height": height,
            "density": density,
            "innerWidth": width,
            "innerHeight": height - rng.choice((80, 120, 140)),
        },
        ip=_ip(rng, index),
        batching=rng.random() < 0.3,
    )


def _android_device(rng: random.Random, index: int) -> Device:
    maker, model, name, version, width, height, dpi = rng.choice(_ANDROIDS)
    return Device(
        platform="android",
        anonymous_id=f"{rng.getrandbits(64):016x}",  # Android v1 uses ANDROID_ID: 16 hex digits
        user_agent=f"Dalvik/2.1.0 (Linux; U; Android {version}; {model} Build/AP2A.240905.003)",
        screen={"density": dpi, "width": width, "height": height},
        ip=_ip(rng, index),
        gzip=rng.random() < 0.5,
        model=(maker, model, name, version),
        app_version=rng.choice(("3.4.0", "3.4.0", "3.3.2")),
        carrier=rng.choice(_CARRIERS),
    )


def _ios_device(rng: random.Random, index: int) -> Device:
    model, version, width, height, scale = rng.choice(_IPHONES)
    return Device(
        platform="ios",
        anonymous_id=new_uuid(rng).upper(),  # iOS v1 uses identifierForVendor, an upper-case UUID
        user_agent=f"Alpenglow/340 CFNetwork/1568.100.1 Darwin/24.0.0 ({model}; iOS {version})",
        screen={"density": scale, "width": width, "height": height},
        ip=_ip(rng, index),
        gzip=rng.random() < 0.3,
        model=("Apple", model, model, version),
        app_version=rng.choice(("3.4.0", "3.4.1")),
        carrier=rng.choice(_CARRIERS),
    )


def _ip(rng: random.Random, index: int) -> str:
    """A documentation-range address (RFC 5737), sent as X-Forwarded-For so request_ip differs per device."""
    block = ("192.0.2", "198.51.100", "203.0.113")[index % 3]
    return f"{block}.{rng.randint(1, 254)}"


def make_person(seed: int, index: int, days: int, start_ms: int) -> Person:
    """Draw person `index` of the population; only `seed` and `index` decide who they are."""
    rng = random.Random(f"headwater-demo:{seed}:{index}")
    persona_row = _weighted(rng, _PERSONAS, tuple(row[1] for row in _PERSONAS))
    persona, _, low, high, buy, active = persona_row
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"
    locale, tz_label, tz_name, offset = rng.choice(_PLACES)
    source = _weighted(rng, TRAFFIC_SOURCES, tuple(s.weight for s in TRAFFIC_SOURCES))
    favourite = tuple(rng.sample(CATEGORIES, 2))

    roll = rng.random()
    kinds: tuple[Platform, ...]
    if roll < 0.56:
        kinds = ("web",)
    elif roll < 0.66:
        kinds = ("web", "web")  # laptop and phone browser: cross-device stitching by userId
    elif roll < 0.78:
        kinds = ("android",)
    elif roll < 0.88:
        kinds = ("ios",)
    else:
        kinds = ("web", rng.choice(("android", "ios")))
    builders = {"web": _web_device, "android": _android_device, "ios": _ios_device}
    devices = [builders[kind](rng, index + n) for n, kind in enumerate(kinds)]
    for device in devices:
        device.locale, device.tz_label, device.tz_name = locale, tz_label, tz_name
        device.wifi = rng.random() < 0.7

    existing = rng.random() < 0.22
    company_row = rng.choice(COMPANIES) if rng.random() < 0.1 else None
    company = None
    if company_row is not None:
        group_id = f"grp_{abs(hash_text(company_row[0])) % 10**8:08d}"
        company = (group_id, company_row[0], company_row[1], company_row[2])
    plan = "team" if company else _weighted(rng, ("free", "plus"), (0.7, 0.3))
    created_at = None
    if existing:
        created_at = start_ms - rng.randint(20, 700) * 86_400_000 - rng.randint(0, 86_399_999)
        for device in devices:  # a returning customer's browser or app still holds the login
            if rng.random() < 0.5:
                device.signed_in = True
    user_id = f"usr_{rng.getrandbits(40):010x}"
    legacy = f"legacy-{rng.randint(100000, 999999)}" if rng.random() < 0.04 else ""
    # Stratified over the window so every day gets new people, even in a small run.
    first_day = int(((index * 0.6180339887498949) % 1.0) * days)
    return Person(
        index=index,
        rng=rng,
        user_id=user_id,
        first_name=first,
        last_name=last,
        email=email,
        persona=persona,
        sessions=rng.randint(low, high),
        buy_propensity=buy * rng.uniform(0.6, 1.4),
        active_share=active,
        locale=locale,
        tz_label=tz_label,
        tz_name=tz_name,
        utc_offset=offset,
        favourite=favourite,
        source=source,
        devices=devices,
        existing_account=existing,
        will_sign_up=rng.uniform(0.15, 0.5),
        plan=plan,
        created_at_ms=created_at,
        company=company,
        legacy_id=legacy,
        first_day=first_day,
        server_orders=rng.random() < 0.35,
        current_id=legacy or user_id,
    )


def hash_text(text: str) -> int:
    """A stable hash (Python's str hash is salted per process, so it would break determinism)."""
    value = 1469598103934665603
    for byte in text.encode():
        value = ((value ^ byte) * 1099511628211) % 2**64
    return value
