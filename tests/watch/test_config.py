from pathlib import Path

import pytest

from watch.commands.setup import starter_files
from watch.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, settings: str, sources: str) -> Path:
    (tmp_path / "veille.yaml").write_text(settings)
    (tmp_path / "sources.yaml").write_text(sources)
    return tmp_path / "veille.yaml"


def test_starter_config_loads_and_matches_example_config(tmp_path: Path) -> None:
    for name, text in starter_files().items():
        (tmp_path / name).write_text(text)
        assert (REPO / "config" / name).read_text() == text, f"config/{name} drifted from starter"
    config = load_config(tmp_path / "veille.yaml")
    assert config.sources and all(s.url.startswith("https://") for s in config.sources)
    assert config.data_dir == tmp_path / "data"


def test_invalid_source_error_names_file_line_source_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data_dir: d\n",
        "sources:\n  - name: blog\n    type: rss\n    url: https://x.test/feed\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "sources.yaml, line 3" in message
    assert "source 'blog'" in message
    assert "field 'type'" in message
    assert "'feed', 'sitemap' or 'site'" in message


def test_unknown_setting_and_bad_yaml_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "crawl:\n  concurency: 3\n", "sources: []\n")
    with pytest.raises(ConfigError, match=r"line 2.*crawl.concurency.*not a known setting"):
        load_config(path)
    path = write(tmp_path, "crawl: [unclosed\n", "sources: []\n")
    with pytest.raises(ConfigError, match=r"veille.yaml, line \d+: invalid YAML"):
        load_config(path)


def test_duplicate_source_names_are_refused(tmp_path: Path) -> None:
    src = "  - name: a\n    type: feed\n    url: https://a.test/feed\n"
    path = write(tmp_path, "{}\n", "sources:\n" + src + src)
    with pytest.raises(ConfigError, match="defined twice"):
        load_config(path)
