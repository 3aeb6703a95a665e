"""The taxonomy: topics (with descriptions and keyword rules) and competitors, from YAML.

It lives in ``taxonomy.yaml`` beside ``veille.yaml`` (``taxonomy_file`` in the
settings). When that file does not exist, the bundled default taxonomy is
used. Errors name the file, the line and the field, like the rest of the
configuration.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from watch.config import Config, ConfigError, read_yaml, validate

TOPIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
COMPETITOR_TAG = "competitor:"
OPPORTUNITY_TAG = "opportunity"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Topic(_Strict):
    """A topic: what it covers, and phrases that tag an item with it on sight."""

    description: str = Field(min_length=1)
    keywords: list[str] = []

    @field_validator("keywords")
    @classmethod
    def _no_blank_keywords(cls, value: list[str]) -> list[str]:
        if any(not k.strip() for k in value):
            raise ValueError("keywords must not be empty strings")
        return value


class Competitor(_Strict):
    """A competitor: mentions of its name or aliases, or items from its domains or sources."""

    name: str = Field(min_length=1)
    aliases: list[str] = []
    domains: list[str] = []
    sources: list[str] = []

    @field_validator("domains")
    @classmethod
    def _plain_domains(cls, value: list[str]) -> list[str]:
        cleaned = []
        for domain in value:
            host = domain.strip().lower().removeprefix("www.")
            if not DOMAIN.match(host):
                raise ValueError(
                    f"expected a domain name such as 'shop.example', not {domain!r} "
                    "(no scheme, path or port)"
                )
            cleaned.append(host)
        return cleaned

    @property
    def tag(self) -> str:
        """The tag this competitor gives: 'competitor:<slug of its name>'."""
        return COMPETITOR_TAG + slug(self.name)

    @property
    def phrases(self) -> list[str]:
        """The name and every alias."""
        return [self.name, *self.aliases]


class Taxonomy(_Strict):
    """The contents of taxonomy.yaml."""

    topics: dict[str, Topic] = {}
    competitors: list[Competitor] = []

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, value: dict[str, Topic]) -> dict[str, Topic]:
        for name in value:
            if not TOPIC_NAME.match(name):
                raise ValueError(
                    f"topic name {name!r} must be lower-case letters, digits, '-' or '_' "
                    "(it becomes a tag)"
                )
        return value

    @property
    def topic_names(self) -> list[str]:
        """Every topic's name, in file order."""
        return list(self.topics)


def slug(text: str) -> str:
    """'Maison Lumière' -> 'maison-lumiere' (for tags)."""
    from classifiers.vectors import fold

    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-") or "unnamed"


def load_taxonomy_file(path: Path) -> Taxonomy:
    """Read and validate one taxonomy file."""
    raw, lines = read_yaml(path)
    taxonomy = validate(Taxonomy, raw, path, lines)
    seen: dict[str, int] = {}
    for i, competitor in enumerate(taxonomy.competitors):
        tag = competitor.tag
        if tag in seen:
            line = lines.get(("competitors", i, "name"))
            where = f"{path}, line {line}" if line else str(path)
            raise ConfigError(
                f"{where}: competitor {competitor.name!r} gives the tag {tag!r}, like competitor "
                f"#{seen[tag] + 1}; competitor names must be distinct."
            )
        seen[tag] = i
    return taxonomy


def default_taxonomy_text() -> str:
    """The bundled default taxonomy.yaml (also what `veille init` writes)."""
    return (resources.files("watch") / "starter" / "taxonomy.yaml").read_text(encoding="utf-8")


def default_taxonomy() -> Taxonomy:
    """The bundled default taxonomy."""
    with resources.as_file(resources.files("watch") / "starter" / "taxonomy.yaml") as path:
        return load_taxonomy_file(Path(path))


def taxonomy_path(config: Config) -> Path:
    """Where this configuration's taxonomy file is (it may not exist)."""
    return config.resolve(config.settings.taxonomy_file)


def load_taxonomy(config: Config) -> Taxonomy:
    """The configured taxonomy, or the bundled default when the file does not exist."""
    path = taxonomy_path(config)
    if not path.exists():
        return default_taxonomy()
    return load_taxonomy_file(path)
