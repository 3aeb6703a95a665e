"""Scrapy settings for Veille's crawler.

The module-level values are polite defaults, used as they are by a plain
`scrapy crawl` from the repository root. `veille crawl` derives the same keys
from veille.yaml with `settings_from_config()` so the config stays the one
place where a user tunes fetching.
"""

from __future__ import annotations

import sys
from typing import Any

from scrapy.settings import default_settings as _scrapy_defaults

from watch.config import Config, CrawlSettings

_DEFAULTS = CrawlSettings()

BOT_NAME = "veille"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Identity and politeness.
USER_AGENT = _DEFAULTS.resolved_user_agent()
ROBOTSTXT_OBEY = _DEFAULTS.obey_robots_txt
ROBOTSTXT_USER_AGENT = "Veille"
CONCURRENT_REQUESTS = _DEFAULTS.concurrency
CONCURRENT_REQUESTS_PER_DOMAIN = _DEFAULTS.per_domain_concurrency
DOWNLOAD_DELAY = _DEFAULTS.per_domain_delay
AUTOTHROTTLE_ENABLED = _DEFAULTS.autothrottle
# Scrapy's default start delay (5 s) would make small watches crawl very slowly.
AUTOTHROTTLE_START_DELAY = max(_DEFAULTS.per_domain_delay, 0.1)
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = float(_DEFAULTS.per_domain_concurrency)

# Limits: a size cap (applied to decompressed bodies too) and timeouts.
DOWNLOAD_MAXSIZE = _DEFAULTS.max_download_size
DOWNLOAD_WARNSIZE = 0
DOWNLOAD_TIMEOUT = _DEFAULTS.timeout
DNS_TIMEOUT = _DEFAULTS.timeout
REDIRECT_MAX_TIMES = 10

# Retries on 5xx and timeouts, spaced by an exponential backoff (crawler.middlewares).
RETRY_TIMES = _DEFAULTS.retries
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 30.0
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"

# Refuse discovered links to private/loopback/link-local hosts (see crawler.middlewares).
VEILLE_ALLOW_PRIVATE_ADDRESSES = _DEFAULTS.allow_private_addresses

# Twisted's own reactor, not the asyncio one: under Scrapy 2.19's asyncio reactor the
# downloader starts every queued request of a slot before any counts as transferring,
# so CONCURRENT_REQUESTS_PER_DOMAIN is not enforced (measured: 8 in flight with a limit of 2).
TWISTED_REACTOR = (
    "twisted.internet.epollreactor.EPollReactor"
    if sys.platform.startswith("linux")
    else "twisted.internet.selectreactor.SelectReactor"
)

# Scrapy starts this many cooperative tasks for EVERY callback's output, even when it
# yields a single item: at the default 100 they cost more CPU than the download itself.
CONCURRENT_ITEMS = 8

# A watch needs no session, and cookies only cost time.
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    # Before robots.txt (100): a refused host must not even get its robots.txt fetched.
    "crawler.middlewares.AddressSafetyMiddleware": 40,
    # Veille's spiders set no allowed_domains, so it would let every request through,
    # at the cost of a check and a signal per request: AddressSafetyMiddleware decides.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.middlewares.LoopingRedirectMiddleware": 600,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.RawMetaRefreshMiddleware": 580,
    # Byte counts for the log only, at the price of re-serialising every response.
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
}

SPIDER_MIDDLEWARES = {
    # Depth is counted by the site spider, the only one that follows links; the
    # middleware would otherwise walk every item every spider yields.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    # A watch has no reason to tell a site which page led to it.
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    # A warning for spiders that copy response.meta into new requests; ours never do.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}

# An HTTP control port per crawl is not wanted on a watch machine. It is left out of
# the base list rather than switched off with None: Scrapy imports every extension
# named in EXTENSIONS, and this one imports aiohttp (150 ms of every crawl's start).
EXTENSIONS_BASE = {
    path: order
    for path, order in _scrapy_defaults.EXTENSIONS_BASE.items()
    if not path.endswith(".RemoteControl")
}
REMOTE_CONTROL_ENABLED = False

ITEM_PIPELINES = {
    "crawler.pipelines.ExtractPipeline": 200,
    "crawler.pipelines.StorePipeline": 400,
}

FEED_EXPORT_ENCODING = "utf-8"


def settings_from_config(config: Config) -> dict[str, Any]:
    """The Scrapy settings that veille.yaml's `crawl:` section controls."""
    crawl = config.settings.crawl
    return {
        "USER_AGENT": crawl.resolved_user_agent(),
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "CONCURRENT_REQUESTS": crawl.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.per_domain_concurrency,
        "DOWNLOAD_DELAY": crawl.per_domain_delay,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.per_domain_delay, 0.1),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.per_domain_concurrency),
        "DOWNLOAD_MAXSIZE": crawl.max_download_size,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DNS_TIMEOUT": crawl.timeout,
        "RETRY_TIMES": crawl.retries,
        "VEILLE_ALLOW_PRIVATE_ADDRESSES": crawl.allow_private_addresses,
    }
