"""The web side of Veille: a read-only JSON API and a search page, served by `veille serve`."""
