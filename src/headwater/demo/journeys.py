"""The behaviour model: what one person does, session by session, as SDK-neutral actions.

A person's sessions are laid out over the simulated days and then played one after another, so a
new session always starts more than 30 minutes after the previous one ended, on whichever device
the person picks up; inside a session actions are seconds to minutes apart. Each step of the
shopping funnel only happens after the one before it (an add needs a product view, a checkout a
cart, an order a checkout), so counts narrow from views to orders by construction. Actions say
what happened; `payloads` turns them into what each SDK would put on the wire.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from headwater.demo.catalogue import (
    BRAND,
    SHOP_URL,
    TRAFFIC_SOURCES,
    Product,
    TrafficSource,
)
from headwater.demo.population import Device, Person, new_uuid
from headwater.demo.shopping import ShoppingSteps, money

__all__ = ["Action", "ActionKind", "WebPage", "iso_ms", "simulate"]

ActionKind = Literal["page", "screen", "track", "identify", "group", "alias"]

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
SESSION_GAP_MIN = 31 * MINUTE  # strictly more than the 30-minute inactivity rule

# Local hour of day a session starts: quiet nights, a lunch bump and an evening peak.
_HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3.5, 3.5, 4, 5, 4.5, 4, 4, 4, 4.5, 5.5, 6.5, 7, 6, 4, 2)
_RETURN_SOURCES = {
    "direct": 0.45,
    "newsletter": 0.18,
    "google_organic": 0.14,
    "facebook_paid": 0.09,
    "google_cpc": 0.08,
    "duckduckgo": 0.06,
}
_SOURCE_BY_KEY = {s.key: s for s in TRAFFIC_SOURCES}
_PLAN_PRICE_CENTS = {"plus": 999, "team": 4900}


@dataclass(frozen=True, slots=True)
class WebPage:
    """The browser's location when an event fires: the JS SDK copies it into context.page."""

    path: str
    search: str
    title: str
    name: str
    referrer: str
    category: str = ""

    @property
    def url(self) -> str:
        return SHOP_URL + self.path + self.search


@dataclass(slots=True)
class Action:
    """One call an SDK makes (`track`, `page`, …) at a simulated instant; `device` None means the backend."""

    at_ms: int
    kind: ActionKind
    device: Device | None
    name: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    user_id: str = ""
    anonymous_id: str = ""
    traits: dict[str, Any] = field(default_factory=dict)
    session_id: int | None = None
    session_start: bool = False
    page: WebPage | None = None
    campaign: dict[str, str] = field(default_factory=dict)
    group_id: str = ""
    group_traits: dict[str, Any] = field(default_factory=dict)
    previous_id: str = ""
    ends_session: bool = False


class _Journey(ShoppingSteps):
    """Plays one person's sessions in order, keeping the state the SDKs and the shop would keep."""

    def __init__(self, person: Person, start_ms: int, days: int) -> None:
        self.person = person
        self.rng: random.Random = person.rng
        self.start_ms = start_ms
        self.end_ms = start_ms + days * DAY
        self.days = days
        self.actions: list[Action] = []
        self.now = 0
        self.device: Device = person.devices[0]
        self.session_id: int | None = None
        self.session_fresh = False
        self.page: WebPage | None = None
        self.campaign: dict[str, str] = {}
        self.last_viewed: Product | None = None
        self.interest = person.favourite[0]
        self.orders = 0
        for device in person.devices:
            if device.signed_in:
                device.user_id = person.current_id
                device.traits = self._traits(full=False)

    # -- emitting ---------------------------------------------------------------------------------

    def emit(
        self, kind: ActionKind, name: str = "", properties: dict[str, Any] | None = None, **extra: Any
    ) -> Action:
        device = self.device
        fields: dict[str, Any] = {
            "user_id": device.user_id,
            "anonymous_id": device.anonymous_id,
            "traits": dict(device.traits),
            "session_id": self.session_id,
            "session_start": self.session_fresh,
            "page": self.page,
            "campaign": dict(self.campaign),
            **extra,
        }
        action = Action(
            at_ms=self.now, kind=kind, device=device, name=name, properties=properties or {}, **fields
        )
        self.session_fresh = False
        self.actions.append(action)
        return action

    def server(self, at_ms: int, name: str, properties: dict[str, Any], anonymous_id: str = "") -> None:
        self.actions.append(
            Action(
                at_ms=at_ms,
                kind="track",
                device=None,
                name=name,
                properties=properties,
                user_id=self.person.current_id,
                anonymous_id=anonymous_id,
            )
        )

    def wait(self, low_ms: int, high_ms: int) -> None:
        self.now += self.rng.randint(low_ms, high_ms)

    def think(self) -> None:
        """Time spent reading a page before the next click: mostly tens of seconds, sometimes minutes."""
        self.now += min(15 * MINUTE, max(2_000, int(self.rng.lognormvariate(10.4, 0.9))))

    # -- the schedule -----------------------------------------------------------------------------

    def run(self) -> list[Action]:
        planned = self._planned_starts()
        self._renewals()
        last_end = 0
        for number, planned_ms in enumerate(planned):
            start = planned_ms
            if last_end and start < last_end + SESSION_GAP_MIN:
                start = last_end + SESSION_GAP_MIN + self.rng.randint(0, 3 * HOUR)
            if start >= self.end_ms - HOUR:
                break
            self.now = start
            self._session(number)
            last_end = self.now
        return [a for a in self.actions if self.start_ms <= a.at_ms < self.end_ms]

    def _planned_starts(self) -> list[int]:
        person, rng = self.person, self.rng
        last_day = person.first_day
        if person.sessions > 1:
            span = max(1, round(person.active_share * (self.days - person.first_day)))
            last_day = min(self.days - 1, person.first_day + span)
        days = [person.first_day] + [
            rng.randint(person.first_day, last_day) for _ in range(person.sessions - 1)
        ]
        starts = []
        for day in days:
            hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
            at = self.start_ms + day * DAY + (hour - person.utc_offset) * HOUR + rng.randint(0, HOUR - 1)
            # Keep the local-time draw on the same simulated day when the offset pushes it across midnight.
            if at < self.start_ms + day * DAY:
                at += DAY
            if at >= self.start_ms + (day + 1) * DAY:
                at -= DAY
            starts.append(at)
        return sorted(starts)

    def _renewals(self) -> None:
        """Paid memberships renew monthly on the account's anniversary; a billing job sends them at 02:00."""
        person = self.person
        price = _PLAN_PRICE_CENTS.get(person.plan)
        if not price or person.created_at_ms is None:
            return
        at = person.created_at_ms + 30 * DAY
        while at < self.end_ms:
            if at >= self.start_ms:
                day_start = at - at % DAY
                billing = day_start + 2 * HOUR + (person.index % 40) * 11  # one billing run: one batch
                self.server(
                    billing,
                    "Subscription Renewed",
                    {
                        "subscription_id": f"sub_{person.user_id[4:]}",
                        "plan": person.plan,
                        "period": "monthly",
                        "revenue": money(price),
                        "currency": "USD",
                    },
                )
            at += 30 * DAY

    # -- one session ------------------------------------------------------------------------------

    def _session(self, number: int) -> None:
        person, rng = self.person, self.rng
        devices = person.devices
        self.device = devices[0] if number == 0 or len(devices) == 1 else rng.choice(devices)
        self.session_id = self.now
        self.session_fresh = True
        self.page = None
        self.campaign = {}
        if number == 0:
            source = person.source
        else:
            keys = tuple(_RETURN_SOURCES)
            source = _SOURCE_BY_KEY[rng.choices(keys, tuple(_RETURN_SOURCES.values()))[0]]
        self.interest = rng.choice(person.favourite)
        if self.device.platform == "web":
            self._land_web(source)
        else:
            self._open_app(number)
        steps = {"one_time": (0, 4), "casual": (1, 5), "regular": (1, 6), "loyal": (2, 8)}[person.persona]
        for _ in range(rng.randint(*steps)):
            self.think()
            self._browse_step()
        if self.device.user_id == "" and person.known and rng.random() < 0.35:
            self.think()
            self._log_in()
        if self.device.cart and rng.random() < min(0.7, person.buy_propensity * 1.5):
            self.think()
            self._checkout()
        elif self.device.user_id == "" and not person.known and rng.random() < person.will_sign_up * 0.5:
            self.think()
            self._sign_up()
        if person.legacy_id and person.current_id == person.legacy_id and self.device.user_id and number > 0:
            self._alias()
        if self.device.platform != "web":
            self.wait(5_000, 90_000)
            self.emit("track", "Application Backgrounded", {}, ends_session=True)
        elif self.actions:
            self.actions[-1].ends_session = True

    def _land_web(self, source: TrafficSource) -> None:
        rng, device = self.rng, self.device
        query: list[str] = []
        if source.utm_source:
            campaign = rng.choice(source.campaigns)
            self.campaign = {"name": campaign, "source": source.utm_source, "medium": source.utm_medium}
            query += [
                f"utm_source={source.utm_source}",
                f"utm_medium={source.utm_medium}",
                f"utm_campaign={campaign}",
            ]
            if source.terms:
                term = rng.choice(source.terms)
                self.campaign["term"] = term
                query.append("utm_term=" + term.replace(" ", "+"))
            if source.contents:
                content = rng.choice(source.contents)
                self.campaign["content"] = content
                query.append(f"utm_content={content}")
        if source.click_id:
            query.append(f"{source.click_id}={new_uuid(rng).replace('-', '')[:22]}")
        search = ("?" + "&".join(query)) if query else ""
        referrer = source.referrer or "$direct"
        if not device.seen_referrer:
            device.seen_referrer = referrer
        if source.landing == "product":
            self._view_product(self._pick_product(), search=search, referrer=referrer)
        elif source.landing == "category":
            self._view_category(self.interest, search=search, referrer=referrer)
        elif source.landing == "search":
            self._search(search_referrer=referrer)
        else:
            self._page("/", search, f"{BRAND}: gear for the mountains", "Home", referrer)

    def _open_app(self, number: int) -> None:
        device, rng = self.device, self.rng
        info = {"version": device.app_version, "build": device.app_build}
        if not device.installed:
            device.installed = True
            self.emit("track", "Application Installed", dict(info))
            self.wait(300, 2_000)
            self.emit("track", "Application Opened", {**info, "from_background": False})
        else:
            self.emit("track", "Application Opened", {**info, "from_background": rng.random() < 0.6})
            if number > 0 and rng.random() < 0.15:
                campaign = rng.choice(("back_in_stock", "winter_sale", "cart_reminder"))
                self.campaign = {"name": campaign, "source": "braze", "medium": "push", "content": "push_1"}
                self.wait(50, 400)
                self.emit("track", "Push Notification Opened", {"campaign": dict(self.campaign)})
        self.wait(500, 3_000)
        self._screen("Home")

    # -- navigation -------------------------------------------------------------------------------

    def _page(
        self, path: str, search: str, title: str, name: str, referrer: str | None = None, category: str = ""
    ) -> None:
        if referrer is None:
            referrer = self.page.url if self.page else "$direct"
        if self.page is not None:
            self.campaign = {}  # utm parameters live on the landing URL only
        self.page = WebPage(path, search, title, name, referrer, category)
        self.emit("page", name, {"category": category} if category else {})

    def _screen(self, name: str, properties: dict[str, Any] | None = None) -> None:
        self.emit("screen", name, {"name": name, "automatic": False, **(properties or {})})

    def _view(
        self,
        kind: str,
        name: str,
        title: str,
        path: str,
        search: str = "",
        referrer: str | None = None,
        properties: dict[str, Any] | None = None,
        category: str = "",
    ) -> None:
        if self.device.platform == "web":
            self._page(path, search, title, name, referrer, category)
        else:
            self._screen(kind, properties)

    # -- identity ---------------------------------------------------------------------------------

    def _traits(self, full: bool = True) -> dict[str, Any]:
        person = self.person
        traits: dict[str, Any] = {"email": person.email}
        if full:
            traits.update(
                {
                    "name": person.name,
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "plan": person.plan,
                }
            )
            if person.created_at_ms is not None:
                traits["created_at"] = iso_ms(person.created_at_ms)
            if person.company is not None:
                traits["company"] = {"id": person.company[0], "name": person.company[1]}
        return traits

    def _identify(self) -> None:
        device, person = self.device, self.person
        device.user_id = person.current_id
        device.traits = self._traits()
        self.emit("identify", properties={}, traits=dict(device.traits))
        if person.company is not None and not device.grouped:
            device.grouped = True
            group_id, name, industry, employees = person.company
            self.wait(50, 500)
            self.emit(
                "group",
                group_id=group_id,
                group_traits={"name": name, "industry": industry, "employees": employees, "plan": "team"},
            )

    def _sign_up(self) -> None:
        rng, person = self.rng, self.person
        self._view("Sign Up", "Sign Up", f"Create your account | {BRAND}", "/account/signup")
        self.think()
        person.created_at_ms = self.now
        self._identify()
        self.wait(100, 800)
        self.emit(
            "track",
            "Signed Up",
            {"method": rng.choice(("email", "email", "google", "apple")), "plan": person.plan},
        )

    def _log_in(self) -> None:
        rng = self.rng
        self._view("Log In", "Log In", f"Log in | {BRAND}", "/account/login")
        self.wait(5_000, 40_000)
        self._identify()
        self.wait(100, 800)
        self.emit("track", "Logged In", {"method": rng.choice(("email", "email", "google", "apple"))})

    def _alias(self) -> None:
        """The shop moved this account off its legacy id: one alias call, then the new id everywhere."""
        person = self.person
        self.wait(500, 5_000)
        old = person.current_id
        person.current_id = person.user_id
        for device in person.devices:
            if device.user_id:
                device.user_id = person.user_id
        self.emit("alias", previous_id=old)


def iso_ms(ms: int) -> str:
    """RFC 3339 with milliseconds and Z, as every RudderStack SDK formats its timestamps."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def simulate(person: Person, start_ms: int, days: int) -> list[Action]:
    """Every action of one person inside the window [start, start + days), in the order they happened."""
    return _Journey(person, start_ms, days).run()
