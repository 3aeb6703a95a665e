"""The offline demo: a bundled web of fictional e-commerce sites, crawled and searched.

`watch.demo.content` holds the authored sites, `watch.demo.web` renders them,
`watch.demo.server` serves them on loopback and `watch.demo.runner` drives
`veille demo`.
"""
