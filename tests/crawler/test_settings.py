"""The crawler's Scrapy settings, as a crawl loads them."""

from __future__ import annotations

from tests.fresh_python import run_snippet


def test_a_crawl_neither_enables_nor_imports_the_remote_control_extension() -> None:
    # It imports aiohttp: 150 ms of every crawl's start-up, for a port a watch does not want.
    code = (
        "import sys; from scrapy.settings import Settings; "
        "from scrapy.utils.misc import load_object; "
        "s = Settings(); s.setmodule('crawler.settings', priority='project'); "
        "found = s.get_component_priority_dict_with_base('EXTENSIONS'); "
        "loaded = [load_object(k) for k, v in found.items() if v is not None]; "
        "print(any('RemoteControl' in str(k) for k in found), 'aiohttp' in sys.modules, "
        "any('CoreStats' in str(k) for k in found))"
    )
    assert run_snippet(code).split() == ["False", "False", "True"]
