"""The Scrapy project: spiders, items, pipelines, middlewares and settings."""
