"""`veille extract`: JSON lines from files and URLs, served by the real loopback server."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.httpserver import FixtureServer, Response
from watch.cli import cli
from watch.commands.extract import KEYS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGES = FIXTURES / "pages"
SITE = FIXTURES / "sites" / "extract"


def run(*args: str) -> Result:
    """Invoke `veille extract ARGS` in-process."""
    return CliRunner().invoke(cli, ["extract", *args])


def lines(result: Result) -> list[dict]:
    """The JSON objects printed on stdout."""
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def small_limits(tmp_path: Path) -> Path:
    """A configuration with a 1 s timeout and a 4 KB size cap."""
    config = tmp_path / "veille.yaml"
    config.write_text("crawl:\n  timeout: 1\n  max_download_size: 4096\n", encoding="utf-8")
    return config


def test_a_file_gives_one_json_line_with_exactly_the_documented_keys() -> None:
    result = run(str(PAGES / "article_en.html"))
    assert result.exit_code == 0, result.output
    [line] = lines(result)
    assert tuple(line) == KEYS
    assert line["input"] == str(PAGES / "article_en.html")
    assert line["url"] == "https://news.shop-signals.test/2026/03/checkout-conversion?ref=canonical"
    assert line["title"] == "Checkout conversion climbs as retailers trim form fields"
    assert line["published"] == "2026-03-14T09:30:00+01:00"
    assert line["author"] == "Maya Okafor, Tom Reyes"
    assert line["language"] == "en"
    assert line["text"].startswith("Online retailers that cut their checkout")


def test_a_gzipped_file_is_read(tmp_path: Path) -> None:
    packed = tmp_path / "article.html.gz"
    packed.write_bytes(gzip.compress((PAGES / "article_fr_cp1252.html").read_bytes()))
    [line] = lines(run(str(packed)))
    assert line["language"] == "fr"
    assert "entrepôts partagés" in line["text"]


def test_a_missing_file_is_reported_and_the_others_still_print(tmp_path: Path) -> None:
    missing = tmp_path / "nope.html"
    result = run(str(PAGES / "blog_time_tag.html"), str(missing), str(PAGES / "article_en.html"))
    assert result.exit_code == 1
    assert [line["input"] for line in lines(result)] == [
        str(PAGES / "blog_time_tag.html"),
        str(PAGES / "article_en.html"),
    ]
    assert f"{missing}: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_directory_and_a_broken_gzip_are_errors_not_crashes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = run(str(tmp_path), str(broken))
    assert result.exit_code == 1
    assert "is a directory" in result.stderr
    assert "not a valid gzip file" in result.stderr


def test_a_url_is_fetched_with_veilles_user_agent(site: FixtureServer) -> None:
    result = run(f"{site.url}/extract/story.html")
    assert result.exit_code == 0, result.output
    [line] = lines(result)
    assert line["input"] == f"{site.url}/extract/story.html"
    assert line["url"] == f"{site.url}/extract/story.html"  # relative canonical, resolved
    assert line["title"] == "Returns are the new battleground for online fashion"
    assert line["published"] == "2026-05-20T08:00:00+00:00"
    assert line["author"] == "Priya Nair"
    assert line["text"].startswith("Online fashion shops send back nearly a third")
    assert "Read more" not in line["text"]
    [request] = site.hits("/extract/story.html")
    assert request.headers["User-Agent"].startswith("Veille/")


def test_a_gzipped_page_and_a_page_without_charset_are_decoded(site: FixtureServer) -> None:
    result = run(f"{site.url}/extract/story-copy.html.gz", f"{site.url}/extract/latin1.html")
    assert result.exit_code == 0, result.output
    story, latin1 = lines(result)
    assert story["title"] == "Returns are the new battleground for online fashion"
    assert "préfèrent" not in latin1["text"]
    assert "près d'un acheteur sur deux a déjà utilisé ce service" in latin1["text"]
    assert latin1["language"] == "fr"


def test_gzip_content_encoding_is_inflated(site: FixtureServer) -> None:
    body = gzip.compress((SITE / "story.html").read_bytes())
    site.route(
        "/extract/encoded",
        Response(200, body, {"Content-Type": "text/html", "Content-Encoding": "gzip"}),
    )
    [line] = lines(run(f"{site.url}/extract/encoded"))
    assert line["author"] == "Priya Nair"


def test_a_redirect_reports_the_final_url(site: FixtureServer) -> None:
    site.route("/extract/old", Response(301, b"", {"Location": "/extract/latin1.html"}))
    [line] = lines(run(f"{site.url}/extract/old"))
    assert line["input"] == f"{site.url}/extract/old"
    assert line["url"] == f"{site.url}/extract/latin1.html"


@pytest.mark.parametrize(
    ("path", "response", "message"),
    [
        ("/extract/gone", None, "HTTP 404"),
        ("/extract/error", Response(500, b"oops", {"Content-Type": "text/html"}), "HTTP 500"),
        ("/extract/loop", Response(302, b"", {"Location": "/extract/loop"}), "HTTP 302"),
    ],
    ids=["404", "500", "redirect-loop"],
)
def test_http_failures_are_reported_per_input(
    site: FixtureServer, path: str, response: Response | None, message: str
) -> None:
    if response is not None:
        site.route(path, response)
    result = run(f"{site.url}{path}", f"{site.url}/extract/story.html")
    assert result.exit_code == 1
    assert message in result.stderr
    assert [line["input"] for line in lines(result)] == [f"{site.url}/extract/story.html"]


def test_a_slow_server_times_out(site: FixtureServer, small_limits: Path) -> None:
    site.route("/extract/slow", Response(200, b"<html></html>", delay=3))
    result = run("--config", str(small_limits), f"{site.url}/extract/slow")
    assert result.exit_code == 1
    assert "timed out after 1 s" in result.stderr


def test_a_page_over_the_size_cap_is_refused(site: FixtureServer, small_limits: Path) -> None:
    site.route("/extract/big", Response(200, b"<p>" + b"x" * 10_000, {"Content-Type": "text/html"}))
    result = run("--config", str(small_limits), f"{site.url}/extract/big")
    assert result.exit_code == 1
    assert "size cap" in result.stderr


def test_a_connection_refused_is_reported() -> None:
    result = run("http://127.0.0.1:9/nothing-listens-here")
    assert result.exit_code == 1
    assert "cannot connect" in result.stderr


def test_the_console_script_streams_json_lines_and_exits_non_zero(
    site: FixtureServer, tmp_path: Path
) -> None:
    veille = Path(sys.executable).parent / "veille"
    done = subprocess.run(
        [str(veille), "extract", f"{site.url}/extract/story.html", str(tmp_path / "missing.html")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["title"] == "Returns are the new battleground for online fashion"
    assert "missing.html: no such file" in done.stderr
