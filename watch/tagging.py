"""Tagging hook for the crawl pipeline (rules + classifier land with the classifier issue)."""

from __future__ import annotations

from crawler.items import Article
from watch.config import Config


class Tagger:
    """Sets an article's tags, opportunity score and reasons. Placeholder: tags nothing yet."""

    @classmethod
    def from_config(cls, config: Config) -> Tagger:
        """The tagger configured for this watch."""
        return cls()

    def tag(self, article: Article) -> None:
        """Tag one article in place."""
