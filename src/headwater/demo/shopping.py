"""The shopping funnel of a journey: picking products, browsing, search, cart and checkout.

A mixin of the journey (`journeys._Journey`), split out because it is the part with its own model:
a long-tailed catalogue popularity, complementary categories, and prices, discounts, shipping and
tax computed in cents so that an order's revenue is exactly the sum of its lines. It relies on the
journey's state and emitting helpers, declared below for the type checker only.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from headwater.demo.catalogue import (
    BRAND,
    CATEGORIES,
    COMPLEMENTS,
    PRODUCTS,
    SEARCH_QUERIES,
    SHOP_URL,
    Product,
)
from headwater.demo.population import Device, Person, new_uuid

__all__ = ["ShoppingSteps", "line", "money"]

_HOUR = 60 * 60_000

_BY_ID = {p.product_id: p for p in PRODUCTS}
_BY_CATEGORY = {c: tuple(p for p in PRODUCTS if p.category == c) for c in CATEGORIES}
# Earlier items in a category sell better, and some categories more than others: a long tail.
_CATEGORY_WEIGHT = {
    "Tents": 1.4,
    "Footwear": 1.3,
    "Apparel": 1.2,
    "Backpacks": 1.0,
    "Sleeping Bags": 0.9,
    "Camp Kitchen": 0.8,
    "Navigation": 0.7,
}
_POPULARITY = tuple(
    _CATEGORY_WEIGHT[p.category] / (1 + _BY_CATEGORY[p.category].index(p)) ** 0.9 for p in PRODUCTS
)
_IN_CATEGORY = {c: tuple(1 / (1 + i) ** 0.9 for i in range(len(ps))) for c, ps in _BY_CATEGORY.items()}
_FREE_SHIPPING_CENTS = 10_000
_SHIPPING_CENTS = 795
_TAX_RATE = 0.08


def money(cents: int) -> float:
    return round(cents / 100, 2)


def line(product: Product, quantity: int, position: int | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "brand": product.brand,
        "variant": product.variant,
        "price": product.price,
        "quantity": quantity,
        "url": f"{SHOP_URL}{product.path}",
        "image_url": f"{SHOP_URL}/img/{product.sku.lower()}.jpg",
    }
    if position is not None:
        line["position"] = position
    return line


class ShoppingSteps:
    """Funnel steps; every one advances the journey's clock and emits through it."""

    rng: random.Random
    person: Person
    device: Device
    now: int
    orders: int
    interest: str
    last_viewed: Product | None

    if TYPE_CHECKING:

        def emit(self, *args: Any, **kwargs: Any) -> Any: ...
        def server(
            self, at_ms: int, name: str, properties: dict[str, Any], anonymous_id: str = ""
        ) -> None: ...
        def wait(self, low_ms: int, high_ms: int) -> None: ...
        def think(self) -> None: ...
        def _view(self, *args: Any, **kwargs: Any) -> None: ...
        def _log_in(self) -> None: ...
        def _sign_up(self) -> None: ...

    def _pick_product(self) -> Product:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            category = self.interest
        elif roll < 0.7 and self.last_viewed is not None:
            category = rng.choice(COMPLEMENTS[self.last_viewed.category])
        else:
            return rng.choices(PRODUCTS, _POPULARITY)[0]
        return rng.choices(_BY_CATEGORY[category], _IN_CATEGORY[category])[0]

    def _browse_step(self) -> None:
        rng = self.rng
        viewed = self.last_viewed
        if viewed is not None and rng.random() < min(0.5, 0.08 + self.person.buy_propensity * 0.4):
            self._add_to_cart(viewed)
            return
        roll = rng.random()
        if roll < 0.6:
            self._view_product(self._pick_product())
        elif roll < 0.78:
            self._view_category(rng.choice((self.interest, *COMPLEMENTS[self.interest])))
        elif roll < 0.9:
            self._search()
        elif roll < 0.95 and viewed is not None:
            self.wait(1_000, 8_000)
            self.emit(
                "track",
                "Product Added to Wishlist",
                {"wishlist_id": f"wl_{self.person.user_id[4:]}", **line(viewed, 1)},
            )
        else:
            path, title = rng.choice(
                (
                    ("/about", "About us"),
                    ("/stores", "Find a store"),
                    ("/journal/packing-list", "The ultimate packing list"),
                    ("/help/returns", "Returns and exchanges"),
                )
            )
            self._view("Content", title, f"{title} | {BRAND}", path, properties={"path": path})

    def _view_product(self, product: Product, search: str = "", referrer: str | None = None) -> None:
        self._view(
            "Product Detail",
            product.name,
            f"{product.name} | {BRAND}",
            product.path,
            search,
            referrer,
            {"product_id": product.product_id},
            category=product.category,
        )
        self.wait(80, 1_500)
        self.emit("track", "Product Viewed", {**line(product, 1), "currency": "USD"})
        self.last_viewed = product
        self.interest = product.category

    def _view_category(self, category: str, search: str = "", referrer: str | None = None) -> None:
        slug = category.lower().replace(" ", "-")
        self._view(
            "Category",
            category,
            f"{category} | {BRAND}",
            f"/collections/{slug}",
            search,
            referrer,
            {"category": category},
            category=category,
        )
        self.wait(80, 1_200)
        shown = _BY_CATEGORY[category]
        self.emit(
            "track",
            "Product List Viewed",
            {
                "list_id": f"collection-{slug}",
                "category": category,
                "products": [line(p, 1, position=i + 1) for i, p in enumerate(shown)],
            },
        )
        self.interest = category

    def _search(self, search_referrer: str | None = None) -> None:
        rng = self.rng
        query = rng.choice(SEARCH_QUERIES[self.interest])
        search = "?q=" + query.replace(" ", "+")
        self._view(
            "Search",
            "Search",
            f"Search: {query} | {BRAND}",
            "/search",
            search,
            search_referrer,
            {"query": query},
        )
        self.wait(100, 1_500)
        self.emit("track", "Products Searched", {"query": query})

    # -- the funnel -------------------------------------------------------------------------------

    def _add_to_cart(self, product: Product) -> None:
        rng, device = self.rng, self.device
        if not device.cart_id:
            device.cart_id = "cart_" + new_uuid(rng).replace("-", "")[:16]
        quantity = 1
        if product.price_cents < 5_000 and rng.random() < 0.3:
            quantity = rng.randint(2, 4)
        if self.person.company is not None and rng.random() < 0.6:
            quantity = rng.randint(4, 15)  # outfitting a team
        self.wait(2_000, 40_000)
        self.emit(
            "track",
            "Product Added",
            {"cart_id": device.cart_id, **line(product, quantity), "currency": "USD"},
        )
        device.cart.append((product.product_id, quantity))
        self.last_viewed = None
        if len(device.cart) > 1 and rng.random() < 0.08:
            removed_id, removed_qty = device.cart.pop(0)
            self.wait(3_000, 30_000)
            self.emit(
                "track",
                "Product Removed",
                {"cart_id": device.cart_id, **line(_BY_ID[removed_id], removed_qty)},
            )

    def _cart_lines(self) -> list[dict[str, Any]]:
        return [line(_BY_ID[pid], qty, position=i + 1) for i, (pid, qty) in enumerate(self.device.cart)]

    def _checkout(self) -> None:
        rng, device, person = self.rng, self.device, self.person
        self._view("Cart", "Cart", f"Your cart | {BRAND}", "/cart")
        self.wait(100, 1_200)
        self.emit("track", "Cart Viewed", {"cart_id": device.cart_id, "products": self._cart_lines()})
        if not device.user_id:
            self.think()
            if person.known:
                self._log_in()
            elif rng.random() < 0.55 + person.will_sign_up:
                self._sign_up()
            else:
                return  # no account, no checkout: the cart waits for a later visit
        subtotal = sum(_BY_ID[pid].price_cents * qty for pid, qty in device.cart)
        coupon = rng.choice(("WINTER10", "WELCOME10")) if rng.random() < 0.2 else ""
        discount = round(subtotal * 0.1) if coupon else 0
        shipping = 0 if subtotal >= _FREE_SHIPPING_CENTS else _SHIPPING_CENTS
        tax = round((subtotal - discount) * _TAX_RATE)
        order_id = f"ord_{rng.getrandbits(48):012x}"
        checkout_id = f"chk_{rng.getrandbits(48):012x}"
        products = self._cart_lines()
        amounts = {"revenue": money(subtotal), "value": money(subtotal), "currency": "USD"}
        self.think()
        self._view("Checkout", "Checkout", f"Checkout | {BRAND}", "/checkout")
        self.wait(100, 1_000)
        self.emit(
            "track",
            "Checkout Started",
            {
                "checkout_id": checkout_id,
                "order_id": order_id,
                **amounts,
                "products": products,
                **({"coupon": coupon} if coupon else {}),
            },
        )
        if coupon:
            self.wait(5_000, 40_000)
            self.emit(
                "track",
                "Coupon Applied",
                {
                    "order_id": order_id,
                    "cart_id": device.cart_id,
                    "coupon_id": coupon,
                    "coupon_name": coupon,
                    "discount": money(discount),
                },
            )
        shipping_method = "express" if rng.random() < 0.25 else "standard"
        payment_method = rng.choice(("card", "card", "card", "paypal", "apple_pay", "invoice"))
        for step, detail in (
            (1, {"shipping_method": shipping_method}),
            (2, {"payment_method": payment_method}),
        ):
            self.wait(3_000, 20_000)
            self.emit("track", "Checkout Step Viewed", {"checkout_id": checkout_id, "step": step})
            self.think()
            self.emit(
                "track", "Checkout Step Completed", {"checkout_id": checkout_id, "step": step, **detail}
            )
            if rng.random() < 0.1:
                return  # abandoned mid-checkout
        self.wait(1_000, 6_000)
        self.emit(
            "track",
            "Payment Info Entered",
            {"checkout_id": checkout_id, "order_id": order_id, "payment_method": payment_method},
        )
        if rng.random() < 0.12:
            return  # the payment failed and they gave up
        self.wait(1_500, 8_000)
        affiliation = {"web": "Alpenglow Web", "android": "Alpenglow Android", "ios": "Alpenglow iOS"}
        order = {
            "checkout_id": checkout_id,
            "order_id": order_id,
            "affiliation": affiliation[device.platform],
            "total": money(subtotal - discount + shipping + tax),
            "subtotal": money(subtotal),
            **amounts,
            "shipping": money(shipping),
            "tax": money(tax),
            "discount": money(discount),
            **({"coupon": coupon} if coupon else {}),
            "payment_method": payment_method,
            "products": products,
        }
        if person.server_orders:
            # The backend confirms the order; it forwards the browser's anonymousId two times in three.
            forwarded = device.anonymous_id if rng.random() < 0.67 else ""
            self.server(self.now + rng.randint(300, 3_000), "Order Completed", order, forwarded)
        else:
            self.emit("track", "Order Completed", order)
        self.orders += 1
        if rng.random() < 0.6:
            shipped = self.now + rng.randint(18 * _HOUR, 50 * _HOUR)
            self.server(
                shipped,
                "Order Shipped",
                {
                    "order_id": order_id,
                    "shipping_method": shipping_method,
                    "carrier": rng.choice(("DHL", "UPS", "PostNL")),
                },
            )
        self.wait(300, 2_500)
        self._view(
            "Order Confirmation",
            "Order Confirmation",
            f"Thank you! | {BRAND}",
            "/checkout/confirmation",
            "?order=" + order_id,
            properties={"order_id": order_id},
        )
        device.cart = []
        device.cart_id = ""
