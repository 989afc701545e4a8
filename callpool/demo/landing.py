"""The demo's landing site: a small plumbing business, with the snippet on every page.

Served by callpool itself under ``/demo/``; open it and the phone number in the header
is swapped for a tracking number from the pool (add ``?utm_source=google&utm_medium=cpc``
to arrive as a paid-search visitor).
"""

from __future__ import annotations

from html import escape

from aiohttp import web

PAGES = {
    "": ("Fix-It Plumbing", "Leaks, boilers and blocked drains fixed today, across Moscow."),
    "services": (
        "Services",
        "Emergency repairs, boiler service, bathroom fitting, drain cleaning.",
    ),
    "prices": ("Prices", "Call-out from 1,500 ₽; boiler service 4,000 ₽; no fix, no fee."),
    "contact": ("Contact", "Call us, 8:00 to 22:00 every day: a plumber answers, not a robot."),
    "about": ("About us", "Twelve plumbers, fifteen years, four thousand happy kitchens."),
}
DISPLAY_NUMBER = "+7 495 123-00-00"


def landing_routes(site_key: str) -> list[web.RouteDef]:
    async def page(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("page", "")
        if name not in PAGES:
            raise web.HTTPNotFound()
        return web.Response(text=render_page(name, site_key), content_type="text/html")

    return [web.get("/demo/", page), web.get("/demo/{page}", page)]


def render_page(name: str, site_key: str) -> str:
    title, text = PAGES[name]
    links = " · ".join(
        f'<a href="/demo/{slug}">{escape(PAGES[slug][0] if slug else "Home")}</a>' for slug in PAGES
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Fix-It Plumbing</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}
header{{display:flex;justify-content:space-between;align-items:center}}
.phone{{font-size:1.4rem;font-weight:bold}}</style>
<script src="/s/{escape(site_key)}.js" async></script>
</head><body>
<header><strong>Fix-It Plumbing</strong>
<a class="phone" href="tel:{DISPLAY_NUMBER.replace(" ", "")}">{DISPLAY_NUMBER}</a></header>
<nav>{links}</nav>
<h1>{escape(title)}</h1><p>{escape(text)}</p>
<p>Call <span class="phone">{DISPLAY_NUMBER}</span> now.</p>
<footer><small>A callpool demo page: the number above is a tracking number from the
demo pool; the calls you see on the dashboard are simulated.</small></footer>
</body></html>
"""
