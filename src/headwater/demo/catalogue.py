"""The fictional shop the demo traffic happens in: products, traffic sources, devices, names.

Everything here is fixed data, so the same seed always draws from the same lists. The catalogue
has a popularity skew and complementary categories (a tent buyer looks at sleeping bags next),
because the recommender needs structure to find, and the traffic sources cover every channel
group the attribution models classify (paid and organic search, social, email, affiliate,
display, referral, direct).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BRAND",
    "CATEGORIES",
    "COMPANIES",
    "COMPLEMENTS",
    "PRODUCTS",
    "SHOP_URL",
    "TRAFFIC_SOURCES",
    "Product",
    "TrafficSource",
]

BRAND = "Alpenglow Outfitters"
SHOP_HOST = "www.alpenglow.example"
SHOP_URL = f"https://{SHOP_HOST}"


@dataclass(frozen=True, slots=True)
class Product:
    """One item for sale; `price_cents` keeps money exact so order revenue sums without float drift."""

    product_id: str
    sku: str
    name: str
    category: str
    brand: str
    price_cents: int
    variant: str

    @property
    def price(self) -> float:
        return self.price_cents / 100

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "-").replace("'", "")

    @property
    def path(self) -> str:
        return f"/products/{self.slug}"


def _products() -> tuple[Product, ...]:
    rows = [
        # category, sku prefix, (name, price, variant, brand)...
        (
            "Tents",
            "TNT",
            [
                ("Trailhead 2P Tent", 249.00, "green", "Alpenglow"),
                ("Summit 1P Bivy", 179.50, "orange", "Alpenglow"),
                ("Basecamp 4P Tent", 429.00, "grey", "Ridgeline"),
                ("Ultralight Tarp", 89.95, "olive", "Featherpack"),
                ("Family Cabin 6P Tent", 559.00, "blue", "Ridgeline"),
                ("Tent Footprint 2P", 39.00, "black", "Alpenglow"),
            ],
        ),
        (
            "Sleeping Bags",
            "SLP",
            [
                ("Down Quilt 20F", 289.00, "navy", "Featherpack"),
                ("Synthetic Bag 30F", 129.00, "red", "Alpenglow"),
                ("Winter Mummy 0F", 399.00, "black", "Ridgeline"),
                ("Insulated Sleeping Pad", 149.95, "yellow", "Featherpack"),
                ("Camp Pillow", 29.95, "grey", "Alpenglow"),
                ("Silk Liner", 59.00, "natural", "Featherpack"),
            ],
        ),
        (
            "Backpacks",
            "BPK",
            [
                ("Trail Runner 20L Pack", 99.00, "teal", "Swiftline"),
                ("Weekender 45L Pack", 219.00, "green", "Alpenglow"),
                ("Expedition 70L Pack", 329.00, "red", "Ridgeline"),
                ("Hydration Vest 10L", 139.00, "black", "Swiftline"),
                ("Rain Cover M", 24.95, "yellow", "Alpenglow"),
                ("Packing Cube Set", 34.50, "grey", "Featherpack"),
            ],
        ),
        (
            "Footwear",
            "FTW",
            [
                ("Ridge Hiking Boot", 189.00, "brown", "Ridgeline"),
                ("Trail Runner Shoe", 139.95, "blue", "Swiftline"),
                ("Approach Shoe", 159.00, "grey", "Alpenglow"),
                ("Camp Sandal", 64.00, "black", "Featherpack"),
                ("Merino Hiking Socks 3-Pack", 44.95, "charcoal", "Alpenglow"),
                ("Gaiters", 49.00, "black", "Ridgeline"),
            ],
        ),
        (
            "Apparel",
            "APR",
            [
                ("Storm Shell Jacket", 279.00, "red", "Ridgeline"),
                ("Down Puffy Jacket", 239.00, "navy", "Featherpack"),
                ("Merino Base Layer Top", 89.00, "black", "Alpenglow"),
                ("Softshell Pants", 119.00, "grey", "Swiftline"),
                ("Sun Hoodie", 69.95, "white", "Swiftline"),
                ("Fleece Beanie", 24.00, "green", "Alpenglow"),
            ],
        ),
        (
            "Camp Kitchen",
            "KIT",
            [
                ("Titanium Stove", 74.95, "silver", "Featherpack"),
                ("Cook Pot Set", 59.95, "silver", "Alpenglow"),
                ("Water Filter", 44.00, "blue", "Swiftline"),
                ("Insulated Mug", 27.50, "orange", "Alpenglow"),
                ("Fuel Canister 230g", 7.95, "blue", "Featherpack"),
                ("Freeze-Dried Meal Pack", 11.50, "mixed", "Ridgeline"),
            ],
        ),
        (
            "Navigation",
            "NAV",
            [
                ("GPS Watch", 349.00, "black", "Swiftline"),
                ("Headlamp 400", 49.95, "orange", "Alpenglow"),
                ("Trekking Poles", 119.00, "carbon", "Ridgeline"),
                ("Emergency Bivvy", 19.95, "orange", "Featherpack"),
                ("First Aid Kit", 34.00, "red", "Alpenglow"),
            ],
        ),
    ]
    products: list[Product] = []
    number = 1001
    for category, prefix, items in rows:
        for index, (name, price, variant, brand) in enumerate(items, start=1):
            products.append(
                Product(
                    product_id=f"prod_{number}",
                    sku=f"{prefix}-{index:03d}",
                    name=name,
                    category=category,
                    brand=brand,
                    price_cents=round(price * 100),
                    variant=variant,
                )
            )
            number += 1
    return tuple(products)


PRODUCTS: tuple[Product, ...] = _products()
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(p.category for p in PRODUCTS))

# Shoppers drift from a category to its complements: the co-view/co-buy signal a recommender learns.
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "Tents": ("Sleeping Bags", "Camp Kitchen"),
    "Sleeping Bags": ("Tents", "Backpacks"),
    "Backpacks": ("Navigation", "Apparel"),
    "Footwear": ("Apparel", "Navigation"),
    "Apparel": ("Footwear", "Backpacks"),
    "Camp Kitchen": ("Tents", "Navigation"),
    "Navigation": ("Backpacks", "Footwear"),
}


@dataclass(frozen=True, slots=True)
class TrafficSource:
    """How a visit arrives: utm parameters on the landing URL and/or an external referrer.

    `weight` is the share of new visitors; `landing` says where such links usually point.
    """

    key: str
    weight: float
    referrer: str  # "" for direct / no referrer
    utm_source: str = ""
    utm_medium: str = ""
    campaigns: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    contents: tuple[str, ...] = ()
    landing: str = "home"  # home | product | category | search
    click_id: str = ""  # query parameter an ad network adds (gclid, fbclid)


TRAFFIC_SOURCES: tuple[TrafficSource, ...] = (
    TrafficSource("direct", 0.20, ""),
    TrafficSource("google_organic", 0.17, "https://www.google.com/", landing="product"),
    TrafficSource(
        "google_cpc",
        0.13,
        "https://www.google.com/",
        "google",
        "cpc",
        ("brand_search", "tents_generic", "winter_sale"),
        ("alpenglow", "2 person tent", "down sleeping bag", "hiking boots"),
        ("text_ad_a", "text_ad_b"),
        landing="product",
        click_id="gclid",
    ),
    TrafficSource(
        "bing_cpc",
        0.03,
        "https://www.bing.com/",
        "bing",
        "cpc",
        ("brand_search",),
        ("alpenglow outfitters",),
        ("text_ad_a",),
        landing="home",
        click_id="msclkid",
    ),
    TrafficSource(
        "facebook_paid",
        0.08,
        "https://m.facebook.com/",
        "facebook",
        "paid_social",
        ("winter_sale", "retargeting_cart"),
        (),
        ("carousel", "video_15s"),
        landing="category",
        click_id="fbclid",
    ),
    TrafficSource(
        "instagram_social",
        0.06,
        "https://l.instagram.com/",
        "instagram",
        "social",
        ("ambassador_posts",),
        (),
        ("story", "reel"),
        landing="product",
    ),
    TrafficSource(
        "newsletter",
        0.10,
        "",
        "newsletter",
        "email",
        ("weekly_digest", "winter_sale", "back_in_stock"),
        (),
        ("hero_banner", "product_grid"),
        landing="category",
    ),
    TrafficSource(
        "affiliate",
        0.05,
        "https://gearreviews.example/best-tents",
        "gearreviews",
        "affiliate",
        ("best_of_2026",),
        (),
        ("review_link",),
        landing="product",
    ),
    TrafficSource(
        "display",
        0.04,
        "https://news.example/outdoors",
        "adnetwork",
        "cpm",
        ("winter_sale",),
        (),
        ("banner_300x250", "banner_728x90"),
        landing="category",
    ),
    TrafficSource("hacker_news", 0.03, "https://news.ycombinator.com/", landing="home"),
    TrafficSource("reddit", 0.05, "https://www.reddit.com/r/ultralight/", landing="product"),
    TrafficSource("duckduckgo", 0.06, "https://duckduckgo.com/", landing="search"),
)

COMPANIES: tuple[tuple[str, str, int], ...] = (
    # name, industry, employees: B2B buyers (guides, schools, clubs) that outfit teams
    ("Summit Guides Ltd", "Tourism", 35),
    ("Northface School of Mountaineering", "Education", 120),
    ("Riverbend Scouts Association", "Non-profit", 15),
    ("Peak Performance Events", "Events", 60),
    ("Glacier Research Station", "Research", 45),
    ("Trailworks Conservation", "Non-profit", 22),
    ("Highline Adventure Co", "Tourism", 80),
    ("Cascade Outdoor Club", "Sports", 200),
)

FIRST_NAMES: tuple[str, ...] = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carmen",
    "Diego",
    "Emma",
    "Felix",
    "Hana",
    "Ivan",
    "Julia",
    "Liam",
    "Mia",
)
LAST_NAMES: tuple[str, ...] = (
    "Andersen",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quintero",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Urban",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Nguyen",
    "Silva",
    "Murphy",
    "Khan",
    "Berg",
)
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net", "mail.example")

SEARCH_QUERIES: dict[str, tuple[str, ...]] = {
    "Tents": ("tent", "2 person tent", "ultralight shelter", "family tent"),
    "Sleeping Bags": ("sleeping bag", "down quilt", "sleeping pad", "winter bag"),
    "Backpacks": ("backpack", "daypack", "70l pack", "hydration vest"),
    "Footwear": ("hiking boots", "trail shoes", "socks", "sandals"),
    "Apparel": ("rain jacket", "puffy", "base layer", "beanie"),
    "Camp Kitchen": ("stove", "water filter", "cook set", "mug"),
    "Navigation": ("gps watch", "headlamp", "trekking poles", "first aid"),
}
