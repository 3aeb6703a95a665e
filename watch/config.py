"""Configuration: YAML files validated into pydantic models on load.

`veille.yaml` holds the settings; `sources.yaml` (beside it unless `sources_file`
says otherwise) lists the sources. Every error names the file, the line, the
source and the field, and says what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from watch.errors import UserError

DEFAULT_CONFIG_CANDIDATES = ("veille.yaml", "config/veille.yaml")
SOURCE_TYPES = ("feed", "sitemap", "site")

M = TypeVar("M", bound=BaseModel)


class ConfigError(UserError):
    """A configuration problem, worded for the user (file, line, field, what to do)."""


class NoConfigError(ConfigError):
    """No configuration file was named and none was found in the usual places."""


class _Model(BaseModel):
    # Unknown keys are typos far more often than intentions: reject them.
    model_config = ConfigDict(extra="forbid")


class CrawlSettings(_Model):
    """How Veille fetches: identity, politeness and limits."""

    user_agent: str = "Veille/0.1 (+{contact_url})"
    contact_url: str = "https://github.com/veille-watch/veille"
    concurrency: int = Field(16, ge=1, le=256)
    per_domain_concurrency: int = Field(2, ge=1, le=32)
    per_domain_delay: float = Field(0.5, ge=0)
    autothrottle: bool = True
    max_download_size: int = Field(5 * 1024 * 1024, ge=1024)
    timeout: float = Field(30.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    obey_robots_txt: bool = True
    # Discovered links to private/loopback/link-local hosts are refused unless
    # this is set, so a hostile feed cannot make Veille probe internal services.
    allow_private_addresses: bool = False

    def resolved_user_agent(self) -> str:
        """The User-Agent header, with the contact URL filled in."""
        return self.user_agent.replace("{contact_url}", self.contact_url)


class ElasticsearchSettings(_Model):
    """Connection and index settings for the Elasticsearch backend."""

    url: str = "http://127.0.0.1:9200"
    index: str = "veille-items"
    analyzer: str = "standard"
    api_key_env: str = "VEILLE_ES_API_KEY"
    username_env: str = "VEILLE_ES_USERNAME"
    password_env: str = "VEILLE_ES_PASSWORD"
    ca_certs: Path | None = None
    timeout: float = Field(30.0, gt=0)
    shards: int = Field(1, ge=1)
    replicas: int = Field(1, ge=0)


class SearchSettings(_Model):
    """Which search backend serves queries."""

    backend: Literal["sqlite", "elasticsearch"] = "sqlite"
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()


class SmtpSettings(_Model):
    """Outgoing mail. The password is read from an environment variable only."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    from_addr: str = "veille@localhost"
    username: str | None = None
    password_env: str = "VEILLE_SMTP_PASSWORD"
    timeout: float = Field(30.0, gt=0)
    admin_email: str | None = None
    # Extra CA bundle to trust for STARTTLS/SSL (a private relay's certificate).
    ca_certs: Path | None = None

    def password(self) -> str | None:
        """The SMTP password from the environment, if any."""
        return os.environ.get(self.password_env)


class SchedulerSettings(_Model):
    """Defaults for unattended runs."""

    default_interval: str = "1h"
    min_interval: str = "10m"
    max_interval: str = "24h"
    failure_threshold: int = Field(3, ge=1)
    max_backoff: str = "24h"
    timezone: str = "UTC"


class ClassifierSettings(_Model):
    """Where the tagging models live; empty means the bundled default model."""

    model_path: Path | None = None
    opportunity_threshold: float = Field(0.5, ge=0, le=1)


class Settings(_Model):
    """The contents of veille.yaml."""

    data_dir: Path = Path("data")
    sources_file: Path = Path("sources.yaml")
    alerts_file: Path = Path("alerts.yaml")
    taxonomy_file: Path = Path("taxonomy.yaml")
    crawl: CrawlSettings = CrawlSettings()
    search: SearchSettings = SearchSettings()
    smtp: SmtpSettings = SmtpSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    classifier: ClassifierSettings = ClassifierSettings()


class Source(_Model):
    """One watched source: a feed, a sitemap or a site section."""

    name: str = Field(min_length=1)
    type: Literal["feed", "sitemap", "site"]
    url: str
    category: str = "general"
    enabled: bool = True
    interval: str | None = None
    cron: str | None = None
    allow: list[str] = []
    deny: list[str] = []
    max_pages: int = Field(200, ge=1)
    max_depth: int = Field(3, ge=0)
    fetch_full_text: bool | None = None
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @property
    def wants_full_text(self) -> bool:
        """Whether entry pages are fetched and extracted (default: yes for feeds)."""
        if self.fetch_full_text is None:
            return self.type == "feed"
        return self.fetch_full_text


class SourcesFile(_Model):
    """The contents of sources.yaml."""

    sources: list[Source] = []


class Config(BaseModel):
    """Everything loaded: settings, sources, and where they came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    settings: Settings
    sources: list[Source]

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the config resolve against."""
        return self.path.parent

    def resolve(self, path: Path) -> Path:
        """An absolute path for a config-relative one."""
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def data_dir(self) -> Path:
        """Where the store, models and state live."""
        return self.resolve(self.settings.data_dir)

    @property
    def db_path(self) -> Path:
        """The SQLite store."""
        return self.data_dir / "veille.db"

    def source(self, name: str) -> Source:
        """The source called `name`, or a ConfigError listing the known ones."""
        for src in self.sources:
            if src.name == name:
                return src
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(
            f"No source named {name!r} in {self.sources_path}. Known sources: {known}."
        )

    @property
    def sources_path(self) -> Path:
        """The sources file."""
        return self.resolve(self.settings.sources_file)


def find_config(explicit: str | Path | None) -> Path:
    """The config path: --config, then $VEILLE_CONFIG, then ./veille.yaml, ./config/veille.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("VEILLE_CONFIG")
    if env:
        return Path(env)
    for candidate in DEFAULT_CONFIG_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    raise NoConfigError(
        "No configuration found (looked for ./veille.yaml and ./config/veille.yaml). "
        "Run `veille init` to write a starter pair, or pass --config PATH."
    )


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate veille.yaml and its sources file."""
    config_path = find_config(path).resolve()
    raw, lines = read_yaml(config_path)
    settings = validate(Settings, raw, config_path, lines)
    sources_path = (
        settings.sources_file
        if settings.sources_file.is_absolute()
        else config_path.parent / settings.sources_file
    )
    sources: list[Source] = []
    if sources_path.exists():
        raw_sources, source_lines = read_yaml(sources_path)
        sources = validate(SourcesFile, raw_sources, sources_path, source_lines).sources
        _check_unique_names(sources, sources_path, source_lines)
    return Config(path=config_path, settings=settings, sources=sources)


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file, returning its data and a map from key paths to line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}).") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML ({problem}).") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return ({} if data is None else data), lines


def _index_lines(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, key.value)
            lines[path] = key.start_mark.line + 1
            _index_lines(value, path, lines)
            lines[path] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*prefix, i), lines)


def validate(model: type[M], raw: Any, path: Path, lines: dict[tuple, int]) -> M:
    """Validate `raw` into `model`, turning pydantic errors into one readable ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        messages = [_describe(err, raw, path, lines) for err in exc.errors()]
        raise ConfigError("\n".join(messages)) from None


def _describe(err: dict[str, Any], raw: Any, path: Path, lines: dict[tuple, int]) -> str:
    loc = tuple(err["loc"])
    line = _closest_line(loc, lines)
    where = f"{path}, line {line}" if line else str(path)
    subject = _subject(loc, raw)
    # Inside a list entry (a source), name the field relative to that entry.
    inner = loc[2:] if subject else loc
    field = ".".join(str(part) for part in inner if not isinstance(part, int)) or "(top level)"
    what = _expected(err)
    return f"{where}: {subject}field '{field}': {what}"


def _closest_line(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


_LIST_SUBJECTS = {"sources": "source", "alerts": "alert rule"}


def _subject(loc: tuple, raw: Any) -> str:
    # Name the source (or alert rule) by its `name` when the error is inside its list.
    if len(loc) >= 2 and loc[0] in _LIST_SUBJECTS and isinstance(loc[1], int):
        try:
            name = raw[loc[0]][loc[1]].get("name")
        except (KeyError, IndexError, AttributeError, TypeError):
            name = None
        label = repr(name) if name else f"#{loc[1] + 1}"
        return f"{_LIST_SUBJECTS[loc[0]]} {label}, "
    return ""


def _expected(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required but missing."
    if kind == "extra_forbidden":
        return "is not a known setting (check its spelling and indentation)."
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"expected {expected}; got {err.get('input')!r}."
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{msg}; got {err.get('input')!r}."


def _check_unique_names(sources: list[Source], path: Path, lines: dict[tuple, int]) -> None:
    seen: dict[str, int] = {}
    for i, src in enumerate(sources):
        if src.name in seen:
            line = lines.get(("sources", i, "name"))
            where = f"{path}, line {line}" if line else str(path)
            raise ConfigError(
                f"{where}: source {src.name!r} is defined twice (also source "
                f"#{seen[src.name] + 1}); source names must be unique."
            )
        seen[src.name] = i


def parse_duration(text: str) -> float:
    """Seconds in a duration such as '90s', '15m', '2h', '1d' or a bare number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value = text.strip().lower()
    try:
        if value and value[-1] in units:
            return float(value[:-1]) * units[value[-1]]
        return float(value)
    except ValueError:
        raise ConfigError(
            f"Invalid duration {text!r}: expected a number with s, m, h, d or w (e.g. '30m')."
        ) from None
