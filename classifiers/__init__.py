"""Tagging models: text features, the topic and opportunity classifiers, taxonomy rules.

`watch.tagging.Tagger` puts them together for the crawl, `veille classify` and
`veille retag`; `veille train` and `veille evaluate` drive `training` and
`evaluation`. The seed set and its datasheet are in `data/`, the bundled
default model in `models/`.
"""
